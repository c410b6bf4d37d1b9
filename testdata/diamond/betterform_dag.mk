# The seed's diamond: state_storage feeds two parallel stages, which feed final.
$(call define_stage, state_storage, )
$(call define_stage, parallel_a, state_storage)
$(call define_stage, parallel_b,   state_storage)
$(call define_stage, final, \
        parallel_a parallel_b)
