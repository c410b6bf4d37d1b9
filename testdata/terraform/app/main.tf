output "endpoint" {
  value = "app.{{ output("network").vpc_id.value }}"
}
