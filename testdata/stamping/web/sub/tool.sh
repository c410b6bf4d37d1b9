#!/bin/sh
echo {{ cfg.region }}
