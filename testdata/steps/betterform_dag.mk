# Step-package stages fed by an upstream ctl stage.
$(call define_stage, net, )
$(call define_stage, deploy, net)
$(call define_stage, script, deploy)
