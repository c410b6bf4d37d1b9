{{/* The network: one output other stages read. */}}
output "vpc_id" {
  value = "vpc-{{ .cfg.region }}"
}
