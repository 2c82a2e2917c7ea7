"""Checks what `helm template` rendered from helm/turnstile for the settings a trust's
platform team expects (tests/it/helm.rs runs it with the cached venv's PyYAML):

    python check.py RENDERED.yaml default|example|postgres OUT_DIR

Names every problem at once and exits 1; writes the rendered turnstile.toml and
role-model.toml to OUT_DIR so the test can run `turnstile validate` on them."""
import re
import sys

import yaml

rendered, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


workload = "Deployment" if mode == "postgres" else "StatefulSet"
want = {"ConfigMap", workload, "Service", "PodDisruptionBudget"}
if mode == "example":
    want |= {"ServiceMonitor", "NetworkPolicy"}
need(set(by_kind) == want, f"kinds {sorted(by_kind)}, want {sorted(want)}")

cm = by_kind["ConfigMap"][0]["data"]
# The trust's config as given, and the chart's keys layered over it.
trust = cm["turnstile.toml"]
toml = cm["chart.toml"]
shutdown = int(re.search(r"shutdown_timeout_secs = (\d+)", toml).group(1))
for text in (trust, toml):
    need(not re.search(r"(?i)(password|secret|token)\s*=\s*\"", text), "a secret written into the ConfigMap")

sts = by_kind[workload][0]
spec = sts["spec"]
pod = spec["template"]["spec"]
if mode == "postgres":
    need(spec["replicas"] == 2, f"replicas {spec['replicas']}, asked for 2")
    need(spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0, "a rollout may take every replica down at once")
    need('kind = "postgres"' in toml, "the config does not select the PostgreSQL store")
    need(not re.search(r"(?m)^\s*(url|path)\s*=", toml.split("[policy]")[0]), "the store section names a URL or a file: the URL comes from a Secret")
else:
    need(spec["replicas"] == 1, "replicas is not 1 with the SQLite store")
need(pod["terminationGracePeriodSeconds"] > shutdown, "terminationGracePeriodSeconds not above the drain time")
need(pod.get("automountServiceAccountToken") is False, "the service account token is mounted")
psc = pod["securityContext"]
need(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "the pod may run as root")
need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "no RuntimeDefault seccomp profile")
(c,) = pod["containers"]
csc = c["securityContext"]
need(csc.get("readOnlyRootFilesystem") is True, "the root filesystem is writable")
need(csc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
need("ALL" in csc.get("capabilities", {}).get("drop", []), "capabilities not dropped")
res = c["resources"]
need({"cpu", "memory"} <= set(res.get("requests", {})), "no cpu/memory requests")
need({"cpu", "memory"} <= set(res.get("limits", {})), "no cpu/memory limits")
need(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness is not /readyz")
need(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness is not /healthz")
for e in c.get("env", []):
    need("value" not in e and "secretKeyRef" in e.get("valueFrom", {}), f"env {e['name']} is not a Secret reference")
vols = {v["name"]: v for v in pod["volumes"]}
need("emptyDir" in vols.get("tmp", {}), "no writable /tmp")
mounts = {m["name"] for m in c["volumeMounts"]}
if mode == "postgres":
    env = {e["name"]: e for e in c.get("env", [])}
    need("TURNSTILE__STORE__URL" in env, "the database URL is not given from a Secret")
    need("state" not in mounts and "volumeClaimTemplates" not in spec, "replicas sharing PostgreSQL still mount a store volume")
    need(vols.get("db-ca", {}).get("secret", {}).get("secretName") == "turnstile-db-ca" and 'ca_file = "/etc/turnstile/db-ca/ca.pem"' in toml, "the database CA is not mounted and named")
else:
    need("state" in mounts, "the SQLite store volume is not mounted")
    need(spec["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"], "the store volume is not ReadWriteOnce")
svc = by_kind["Service"][0]["spec"]
need(svc["ports"][0]["targetPort"] == "admin", "the Service does not reach the admin port")
need(by_kind["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"], "the PDB selects other pods")

if mode == "example":
    names = [e["name"] for e in c["env"]]
    need("TURNSTILE__KAFKA__SASL_PASSWORD" in names and "TURNSTILE__TARGETS__AD__BIND_PASSWORD" in names, f"secret env {names}")
    tokens = vols.get("admin-tokens", {}).get("secret", {})
    need(tokens.get("defaultMode") == 0o440, f"tokens mode {tokens.get('defaultMode')}: others must not read it")
    need('tokens_file = "/etc/turnstile/admin/tokens.toml"' in toml, "the config does not name the tokens file")
    need(c["readinessProbe"]["httpGet"].get("scheme") == "HTTPS", "the probes do not use HTTPS with TLS")
    need(vols.get("admin-tls", {}).get("secret", {}).get("defaultMode") == 0o440, "the TLS key is readable by others")
    need('tls_key_file = "/etc/turnstile/tls/tls.key"' in toml, "the config does not name the TLS key")
    ep = by_kind["ServiceMonitor"][0]["spec"]["endpoints"][0]
    need(ep.get("scheme") == "https", "the ServiceMonitor scrapes plain HTTP")
    need(ep["path"] == "/metrics" and ep.get("authorization", {}).get("type") == "Bearer", "the ServiceMonitor sends no token")
    np = by_kind["NetworkPolicy"][0]["spec"]
    need(np["ingress"][0]["ports"][0]["port"] == int(re.search(r'listen = "0.0.0.0:(\d+)"', toml).group(1)), "the NetworkPolicy opens another port")

if mode == "example":
    need(vols.get("audit-key", {}).get("secret", {}).get("defaultMode") == 0o440, "the audit key is readable by others")
    need('hmac_key_file = "/etc/turnstile/audit/key"' in toml, "the config does not name the audit key")
    need("ldap-ca" in mounts and "ldap-ca" in vols, "the extra volume is not mounted")
(c,) = pod["containers"]
need(c["args"] == ["run", "--config", "/etc/turnstile/turnstile.toml", "--config", "/etc/turnstile/chart.toml"], f"args {c['args']}: the chart's keys are not layered over the trust's config")

open(f"{out}/turnstile.toml", "w").write(trust)
open(f"{out}/chart.toml", "w").write(toml)
open(f"{out}/role-model.toml", "w").write(cm["role-model.toml"])
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("ok")
