# Three stages that prompt at once in a parallel run, and one that streams output meanwhile.
$(call define_stage, ask_a, )
$(call define_stage, ask_b, )
$(call define_stage, ask_c, )
$(call define_stage, chatty, )
