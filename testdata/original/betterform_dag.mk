# As the original's example_usage_with_explanation.md writes it.
$(call dag_deps network, )
$(call dag_deps app, network)
