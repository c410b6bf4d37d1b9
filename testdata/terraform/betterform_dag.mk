# Two terraform stages through the original's common stage utility; app reads network's output.
$(call define_stage, network, )
$(call define_stage, app, network)
