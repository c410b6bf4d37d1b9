# Terraform with template directives and interpolation: none of it is betterform's.
variable "names" { type = list(string) }
locals {
  greeting = "Hello, %{ if var.name != "" }${var.name}%{ else }unnamed%{ endif }!"
  list     = <<EOT
%{ for ip in var.ips ~}
server ${ip}
%{ endfor ~}
EOT
  escaped  = "$${literal} %%{literal}"
  map      = { for k, v in var.m : k => "${v}-#{k}" }
}
output "x" { value = "${local.greeting} {#}" }
