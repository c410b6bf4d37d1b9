rendered {{ cfg.region }}
