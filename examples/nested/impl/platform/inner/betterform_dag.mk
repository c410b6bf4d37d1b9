$(call define_stage, net, )
$(call define_stage, db, net)
