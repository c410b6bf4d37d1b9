region = "{{ cfg.region }}"
name   = "{{ stage_name }}"
{{% for z in cfg.zones -%}}
zone "{{ z }}"
{{% endfor -%}}
