# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options for modules that talk to the Kubernetes API (see ``module_utils/_kube_args.py``)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (several paths separated by C(:) are merged), or the kubeconfig itself as a
        mapping.
      - "Which configuration is used, as in M(kubernetes.core.k8s_info): O(host) with O(api_key) (or O(client_cert)
        and O(client_key)) needs no kubeconfig; otherwise O(kubeconfig) (or E(K8S_AUTH_KUBECONFIG)) when given; O(context)
        alone selects a context of the default kubeconfig; with no connection option at all the in-cluster service
        account is tried first, then the default kubeconfig."
      - The default kubeconfig is E(KUBECONFIG) when set, else C(~/.kube/config). E(KUBECONFIG) is never treated as
        an explicit option, so inside a pod the service account wins over it.
      - A mapping's credentials (C(token), C(password), C(client-key-data) and the like) are hidden from the task
        output and logs; its other values (names, namespaces, server URL) are not, so they do not mask the results.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - Name of the kubeconfig context to use instead of the current context (of O(kubeconfig), else of the default
        kubeconfig).
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server, for example V(https://api.example.com:6443).
      - With O(api_key) (or O(client_cert) and O(client_key)) no kubeconfig is read at all.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API server.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) or E(K8S_AUTH_VALIDATE_CERTS) environment variables.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (full chain) that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) or E(K8S_AUTH_CA_CERT) environment variables.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate used to authenticate with the API server.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) or E(K8S_AUTH_CLIENT_CERT) environment variables.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) or E(K8S_AUTH_CLIENT_KEY) environment variables.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
      - Proxy settings of the environment (E(HTTP_PROXY), E(HTTPS_PROXY), E(NO_PROXY)) are not used.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains, IP addresses or CIDR ranges reached without O(proxy), for example
        V(localhost,.local,.example.com,127.0.0.1,10.0.0.0/8).
      - Can also be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description:
      - Headers sent to O(proxy), built as by C(urllib3.util.make_headers).
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(username:password) for the C(Proxy-Authorization) basic authentication header.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) environment variable.
        type: str
      basic_auth:
        description:
          - C(username:password) for a basic C(Authorization) header sent to the proxy.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) environment variable.
        type: str
      user_agent:
        description:
          - C(User-Agent) sent to the proxy, such as V(foo/1.0).
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) environment variable.
        type: str
  username:
    description:
      - User name for HTTP basic authentication with the API server (with O(password)).
      - Only for clusters configured for basic authentication; a bearer token (O(api_key) or the kubeconfig's) wins
        over it.
      - Can also be set with the E(K8S_AUTH_USERNAME) environment variable.
    type: str
  password:
    description:
      - Password for HTTP basic authentication with the API server (with O(username)).
      - Can also be set with the E(K8S_AUTH_PASSWORD) environment variable.
    type: str
  impersonate_user:
    description:
      - User name to act as (C(Impersonate-User) header); the authenticated user needs the C(impersonate) verb on it.
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Groups to act as (one C(Impersonate-Group) header each), with O(impersonate_user).
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable, comma-separated
        (V(Group1,Group2)).
    type: list
    elements: str
requirements:
  - kubernetes >= 29.0.0 (the official Kubernetes Python client)
notes:
  - Every connection option can be set once for a play with C(module_defaults) and the action group
    C(group/velero_ops.tuning.k8s).
  - Requests that fail with connection errors, timeouts, HTTP 429 or 5xx are retried a bounded number
    of times, waiting as long as the server's C(Retry-After) header asks.
"""
