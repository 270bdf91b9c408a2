# Two images released together, the way a multi-image project bakes them; contexts are
# relative to this directory. tests/buildkit/test_bake.py checks them with
# `repro check --bake testdata/bake/docker-bake.hcl` (from this directory).
variable "BASE" { default = "" }

group "default" { targets = ["app", "tool"] }

target "_common" {
  contexts = { base = BASE }
  args = { SOURCE_DATE_EPOCH = "1700000000" }
}

target "app" {
  inherits = ["_common"]
  context = "../contexts/deterministic"
  labels = { "org.opencontainers.image.title" = "app" }
}

target "tool" {
  inherits = ["_common"]
  context = "../contexts/multi-stage"
  platforms = ["linux/amd64"]
}
