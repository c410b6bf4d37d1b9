# The example deployment: a local "state store" (a SQLite database), two stages that build
# on it in parallel, and a final smoke check that reads what both produced.
$(call define_stage, state_storage, )
$(call define_stage, parallel_a, state_storage)
$(call define_stage, parallel_b, state_storage)
$(call define_stage, final, \
        parallel_a parallel_b)
