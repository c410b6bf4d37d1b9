$(call define_stage, web, )
