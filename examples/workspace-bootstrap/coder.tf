# Add to a Coder template (beside its coder_agent "main"): the two variables bootstrap.sh reads,
# and a coder_script that runs it at every workspace start. bootstrap.sh and provision.yaml sit
# in a provision/ folder next to the template's main.tf.

# Most templates already declare these two data sources; Terraform rejects a second declaration,
# so drop them here if yours has them.
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

# The workspace owner's session token. Coder may issue a new one on each start; bootstrap.sh
# then rewrites only the key files.
resource "coder_env" "coder_session_token" {
  agent_id = coder_agent.main.id
  name     = "CODER_SESSION_TOKEN"
  value    = data.coder_workspace_owner.me.session_token
}

# The access URL (without it, bootstrap.sh uses the agent's CODER_AGENT_URL).
resource "coder_env" "coder_url" {
  agent_id = coder_agent.main.id
  name     = "CODER_URL"
  value    = data.coder_workspace.me.access_url
}

resource "coder_script" "provision" {
  agent_id           = coder_agent.main.id
  display_name       = "LLM providers (provision)"
  icon               = "/icon/widgets.svg"
  run_on_start       = true
  start_blocks_login = false
  script             = <<-EOT
    #!/usr/bin/env bash
    set -euo pipefail
    dir="$HOME/.config/provision/source"
    mkdir -p "$dir"
    echo '${base64encode(file("${path.module}/provision/provision.yaml"))}' | base64 -d >"$dir/provision.yaml"
    echo '${base64encode(file("${path.module}/provision/bootstrap.sh"))}' | base64 -d >"$dir/bootstrap.sh"
    PROVISION_SRC='git+https://github.com/your-org/provision@v0.1.0' bash "$dir/bootstrap.sh"
  EOT
}
