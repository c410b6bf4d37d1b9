# Two independent stages that can only both succeed if they run at the same time.
$(call define_stage, left, )
$(call define_stage, right, )
