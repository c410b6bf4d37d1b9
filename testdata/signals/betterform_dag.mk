# A stage that runs until released (or signalled), and one that depends on it.
$(call define_stage, slow, )
$(call define_stage, after, slow)
