# One stage that asks a question on the terminal.
$(call define_stage, asker, )
