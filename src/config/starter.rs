//! The starter `kilter.yaml` written by `kilter init`.

use super::span::scalar_text;

/// The text of a starter `kilter.yaml` for `kilter init`: `name:` set, every other
/// section shown commented out with its default.
pub fn starter(name: &str) -> String {
    // A name like `123` or `true` must be quoted to stay a string.
    let yaml_name = scalar_text(name);
    format!(
        "\
# kilter.yaml: one disposable local Kubernetes (KIND + Tilt) dev environment
# for this project. Every field is optional; uncomment what you need.

# Project name: the KIND cluster is `kilter-{name}`, the namespace `{name}-dev`.
# 1-42 characters: lowercase letters, digits and '-'.
name: {yaml_name}

# The Tiltfile driving the inner loop (default: ./Tiltfile next to this file).
# tiltfile: Tiltfile

# Pin the KIND node image (passed to `kind create cluster --image`).
# kind:
#   image: kindest/node:v1.31.0

# Services the project needs: catalog names, or your own images.
# services:
#   - postgres
#   - name: api
#     image: ghcr.io/acme/api:dev
#     port: 8080

# What `kilter db snapshot` and `kilter db restore` work on (defaults shown).
# database:
#   engine: postgres      # postgres, mysql or mariadb
#   service: postgres     # Deployment or StatefulSet in {name}-dev
#   user: postgres
#   name: {name}

# Keep this project off the machine's shared local registry.
# registry: false

# `cluster.stopped` is written by `kilter stop` and removed by `kilter up`;
# there is no need to set it by hand.
"
    )
}

#[cfg(test)]
mod tests;
