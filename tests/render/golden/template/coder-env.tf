# Rendered by provision (target out); edit the spec, not this file.
locals {
  provision_env = {
    ANTHROPIC_API_KEY = var.anthropic_api_key
    ANTHROPIC_BASE_URL = "https://coder.example.com/api/v2/aibridge/anthropic"
    GROQ_API_KEY = var.groq_api_key
    OPENAI_API_KEY = var.openai_api_key
    OPENAI_BASE_URL = "https://coder.example.com/api/v2/aibridge/openai/v1"
  }
  # Groq is not bridged: its key comes from the spec and is written here.
  groq_api_key = "gsk-template-0001"
  coder_url    = "https://coder.example.com"
}
