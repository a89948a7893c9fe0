terraform {
  required_version = ">= 1.0"

  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.5"
    }
  }
}

variable "agent_id" {
  type        = string
  description = "The ID of a Coder agent."
}

variable "spec" {
  type        = string
  description = "The provision spec (YAML; JSON is YAML too) to apply. The script writes it to <install_prefix>/spec/provision.yaml (mode 0600). Use secret sources ({env: …}, {file: …}) in it, never literal keys: the spec travels inside the script. Set this or spec_path."
  default     = ""
  sensitive   = true
}

variable "spec_path" {
  type        = string
  description = "Path in the workspace of an existing spec file or directory (e.g. a repository checkout), applied in place. `~/` is the workspace owner's home. Set this or spec."
  default     = ""
  validation {
    condition     = can(regex("^[^'\\n]*$", var.spec_path))
    error_message = "spec_path must not contain a single quote or a newline."
  }
}

variable "deployment" {
  type        = string
  description = "A deployment in the spec whose provider variables workspace shells get: the script checks it exists and writes <install_prefix>/env.sh (no secret values; it runs `eval \"$(provision env -d NAME)\"`), sourced from ~/.bashrc and ~/.zshrc. Empty: no shell integration."
  default     = ""
  validation {
    condition     = can(regex("^([A-Za-z_][A-Za-z0-9_-]*)?$", var.deployment))
    error_message = "deployment must be a deployment name (^[A-Za-z_][A-Za-z0-9_-]*$), or empty."
  }
}

variable "install_source" {
  type        = string
  description = "What `pip install` installs: this project's git URL (git+https://github.com/<org>/provision@v0.1.0), a wheel, a path to a checkout, or its name on your own package index. No default: on PyPI the name \"provision\" belongs to another project."
  validation {
    condition     = can(regex("^[^'\\n]+$", var.install_source))
    error_message = "install_source must be non-empty, without a single quote or a newline."
  }
}

variable "provision_version" {
  type        = string
  description = "For an install_source that is a package-index name: pin it to this version (`<install_source>==<version>`). Empty: whatever install_source resolves to."
  default     = ""
  validation {
    condition     = can(regex("^([0-9][0-9A-Za-z.+!-]*)?$", var.provision_version))
    error_message = "provision_version must be a version such as \"0.1.0\", or empty."
  }
}

variable "python" {
  type        = string
  description = "The Python interpreter (3.11 or newer) that creates the virtualenv."
  default     = "python3"
  validation {
    condition     = can(regex("^[^'\\n]+$", var.python))
    error_message = "python must be non-empty, without a single quote or a newline."
  }
}

variable "install_prefix" {
  type        = string
  description = "Directory for the virtualenv, the written spec and env.sh. `~/` is the workspace owner's home; keep it on persistent storage so restarts reuse the install."
  default     = "~/.local/share/coder-provision"
  validation {
    condition     = can(regex("^[^'\\n]+$", var.install_prefix))
    error_message = "install_prefix must be non-empty, without a single quote or a newline."
  }
}

variable "log_path" {
  type        = string
  description = "The path for the script's log (mode 0600). Provision masks secret values in what it prints."
  default     = "/tmp/coder-provision.log"
  validation {
    condition     = can(regex("^[^'\\n]+$", var.log_path))
    error_message = "log_path must be non-empty, without a single quote or a newline."
  }
}

variable "aibridge" {
  type        = bool
  description = "Add coder_env entries that route OpenAI- and Anthropic-compatible clients (Mux, SDKs) through the deployment's AI Bridge with the owner's session token."
  default     = true
}

variable "coder_login" {
  type        = bool
  description = "Add coder_env entries CODER_SESSION_TOKEN and CODER_URL, which the script (and a spec's {env: CODER_SESSION_TOKEN}) reads. Set false when the template already uses the registry's coder-login module, which sets the same two."
  default     = true
}

variable "run_on_start" {
  type        = bool
  description = "Apply the spec each time the workspace starts."
  default     = true
}

variable "cron" {
  type        = string
  description = "Also apply on this schedule (six-field cron, e.g. \"0 0 * * * *\" hourly) to correct drift. Empty: no schedule."
  default     = ""
}

variable "plan_app" {
  type        = bool
  description = "Add a \"Provision plan\" app that opens a terminal showing what provision would change (drift)."
  default     = false
}

variable "order" {
  type        = number
  description = "The order determines the position of the plan app in the UI presentation. The lowest order is shown first and apps with equal order are sorted by name (ascending order)."
  default     = null
}

variable "group" {
  type        = string
  description = "The name of a group that the plan app belongs to."
  default     = null
}

data "coder_workspace" "me" {}

data "coder_workspace_owner" "me" {}

locals {
  access_url = trimsuffix(data.coder_workspace.me.access_url, "/")
  pip_spec   = var.provision_version == "" ? var.install_source : "${var.install_source}==${var.provision_version}"
  spec_file  = var.spec_path == "" ? "${var.install_prefix}/spec/provision.yaml" : var.spec_path
}

resource "coder_env" "openai_base_url" {
  count    = var.aibridge ? 1 : 0
  agent_id = var.agent_id
  name     = "OPENAI_BASE_URL"
  value    = "${local.access_url}/api/v2/aibridge/openai/v1"
}

resource "coder_env" "openai_api_key" {
  count    = var.aibridge ? 1 : 0
  agent_id = var.agent_id
  name     = "OPENAI_API_KEY"
  value    = data.coder_workspace_owner.me.session_token
}

resource "coder_env" "anthropic_base_url" {
  count    = var.aibridge ? 1 : 0
  agent_id = var.agent_id
  name     = "ANTHROPIC_BASE_URL"
  value    = "${local.access_url}/api/v2/aibridge/anthropic"
}

resource "coder_env" "anthropic_api_key" {
  count    = var.aibridge ? 1 : 0
  agent_id = var.agent_id
  name     = "ANTHROPIC_API_KEY"
  value    = data.coder_workspace_owner.me.session_token
}

resource "coder_env" "coder_session_token" {
  count    = var.coder_login ? 1 : 0
  agent_id = var.agent_id
  name     = "CODER_SESSION_TOKEN"
  value    = data.coder_workspace_owner.me.session_token
}

resource "coder_env" "coder_url" {
  count    = var.coder_login ? 1 : 0
  agent_id = var.agent_id
  name     = "CODER_URL"
  value    = local.access_url
}

resource "coder_script" "provision" {
  agent_id     = var.agent_id
  display_name = "provision"
  icon         = "/icon/terminal.svg"
  script = templatefile("${path.module}/run.sh.tftpl", {
    ACCESS_URL     = local.access_url
    SPEC_B64       = base64encode(var.spec)
    SPEC_PATH      = var.spec_path
    DEPLOYMENT     = var.deployment
    PIP_SPEC       = local.pip_spec
    PYTHON         = var.python
    INSTALL_PREFIX = var.install_prefix
    LOG_PATH       = var.log_path
  })
  run_on_start = var.run_on_start
  cron         = var.cron == "" ? null : var.cron

  lifecycle {
    precondition {
      condition     = (var.spec == "") != (var.spec_path == "")
      error_message = "Set exactly one of 'spec' and 'spec_path'."
    }
    precondition {
      condition     = var.run_on_start || var.cron != ""
      error_message = "With run_on_start = false, set 'cron', or the script never runs."
    }
  }
}

resource "coder_app" "provision_plan" {
  count        = var.plan_app ? 1 : 0
  agent_id     = var.agent_id
  slug         = "provision-plan"
  display_name = "Provision plan"
  icon         = "/icon/terminal.svg"
  command      = "${var.install_prefix}/venv/bin/provision plan -f ${local.spec_file}"
  order        = var.order
  group        = var.group
}
