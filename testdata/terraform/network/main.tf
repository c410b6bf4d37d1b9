output "vpc_id" {
  value = "vpc-{{ cfg.region }}"
}
