# The example deployment: a local "state store" (a SQLite database), two stages that build
# on it in parallel, and a final smoke check that reads what both produced. Two step-package
# stages (see _steps/): `publish` uploads the site parallel_a built, `announce` records it.
$(call define_stage, state_storage, )
$(call define_stage, parallel_a, state_storage)
$(call define_stage, parallel_b, state_storage)
$(call define_stage, final, \
        parallel_a parallel_b)
$(call define_stage, publish, parallel_a)
$(call define_stage, announce, publish state_storage)
