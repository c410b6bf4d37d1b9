#!/usr/bin/env bash
# Only the expressions are betterform's; everything else stays as written.
region="{{ cfg.region }}"
zones={{ cfg.zones }}
echo "${#region} zones: ${zones[@]} {%s} #}"
{{% for z in cfg.zones %}}echo "zone {{ z }}: ${#z}"
{{% endfor %}}
