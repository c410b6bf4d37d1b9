# Step packages shaped exactly like @octopusdeploy/step-package-cli 2.1.0 builds them: `issue`
# binds a secret, `echo` (downstream) prints the same value without binding it.
$(call define_stage, issue, )
$(call define_stage, echo, issue)
