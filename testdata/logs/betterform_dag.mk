# Stages for the log and time-limit tests: one that talks (and can wait), one before it and one
# after it that can each be held, one that sleeps long and one that sleeps a little.
$(call define_stage, gate, )
$(call define_stage, talker, gate)
$(call define_stage, after, talker)
$(call define_stage, sleeper, )
$(call define_stage, napper, )
