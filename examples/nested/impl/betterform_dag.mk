# An orchestrator inside an orchestrator: `platform` is a whole inner deployment (its own DAG
# under platform/inner), run by betterform itself. betterform is a wave program, so it can be
# any stage's ctl.
$(call define_stage, base, )
$(call define_stage, platform, base)
$(call define_stage, app, platform)
