{{- define "turnstile.name" -}}{{ .Release.Name }}-turnstile{{- end -}}
{{- define "turnstile.selector" -}}
app.kubernetes.io/name: turnstile
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "turnstile.labels" -}}
{{ include "turnstile.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "turnstile.check" -}}
{{- if not (has .Values.store.kind (list "sqlite" "postgres")) -}}
{{- fail (printf "store.kind %q: use sqlite (one replica, a StatefulSet) or postgres (several replicas, a Deployment)" .Values.store.kind) -}}
{{- end -}}
{{- if and (eq .Values.store.kind "sqlite") (ne (int .Values.replicas) 1) -}}
{{- fail "replicas: the SQLite store is one pod's own volume; keep replicas: 1, or set store.kind: postgres for several" -}}
{{- end -}}
{{- if and (eq .Values.store.kind "postgres") (not .Values.store.postgres.urlSecret) -}}
{{- fail "store.postgres.urlSecret: name the Secret holding the database URL (postgres://user:password@host:5432/db) under store.postgres.urlKey" -}}
{{- end -}}
{{- if lt (int .Values.replicas) 1 -}}
{{- fail "replicas: at least 1" -}}
{{- end -}}
{{- end -}}
{{- define "turnstile.pod" -}}
template:
  metadata:
    labels: {{- include "turnstile.labels" . | nindent 8 }}
    annotations:
      checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
  spec:
    # Longer than the daemon's own drain, so SIGTERM always ends in a clean commit.
    terminationGracePeriodSeconds: {{ add .Values.daemon.shutdownTimeoutSecs 10 }}
    automountServiceAccountToken: false
    securityContext: {{- toYaml .Values.podSecurityContext | nindent 8 }}
    {{- with .Values.nodeSelector }}
    nodeSelector: {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- with .Values.tolerations }}
    tolerations: {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- with .Values.affinity }}
    affinity: {{- toYaml . | nindent 8 }}
    {{- end }}
    containers:
      - name: turnstile
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        args: ["run", "--config", "/etc/turnstile/turnstile.toml", "--config", "/etc/turnstile/chart.toml"]
        env:
          {{- if eq .Values.store.kind "postgres" }}
          # The database URL may hold a password: only ever from a Secret.
          - name: TURNSTILE__STORE__URL
            valueFrom:
              secretKeyRef: { name: {{ .Values.store.postgres.urlSecret }}, key: {{ .Values.store.postgres.urlKey }} }
          {{- end }}
          {{- if hasPrefix "sasl" .Values.kafka.securityProtocol }}
          - name: TURNSTILE__KAFKA__SASL_PASSWORD
            valueFrom:
              secretKeyRef: { name: {{ .Values.kafka.saslPasswordSecret }}, key: password }
          {{- end }}
          {{- range .Values.secretEnv }}
          - name: {{ .name }}
            valueFrom:
              secretKeyRef: { name: {{ .secret }}, key: {{ .key }} }
          {{- end }}
        ports:
          - { name: admin, containerPort: {{ .Values.daemon.port }} }
        # Both answer 503 while the broker is unreachable or a partition is stalled;
        # /readyz also while the applier cannot run. A held plan or a quarantined target
        # is an alert (metrics, /api/v1/status), not unreadiness: the pod stays in its
        # Service so that approvers can reach the admin API.
        readinessProbe:
          httpGet: { path: /readyz, port: admin{{ if .Values.admin.tlsSecret }}, scheme: HTTPS{{ end }} }
          periodSeconds: 10
        livenessProbe:
          httpGet: { path: /healthz, port: admin{{ if .Values.admin.tlsSecret }}, scheme: HTTPS{{ end }} }
          initialDelaySeconds: 60
          periodSeconds: 30
          failureThreshold: 10
        resources: {{- toYaml .Values.resources | nindent 12 }}
        securityContext: {{- toYaml .Values.securityContext | nindent 12 }}
        volumeMounts:
          - { name: config, mountPath: /etc/turnstile, readOnly: true }
          {{- if eq .Values.store.kind "sqlite" }}
          - { name: state, mountPath: /var/lib/turnstile }
          {{- end }}
          {{- if and (eq .Values.store.kind "postgres") .Values.store.postgres.caSecret }}
          - { name: db-ca, mountPath: /etc/turnstile/db-ca, readOnly: true }
          {{- end }}
          - { name: tmp, mountPath: /tmp }
          {{- if .Values.admin.tokensSecret }}
          - { name: admin-tokens, mountPath: /etc/turnstile/admin, readOnly: true }
          {{- end }}
          {{- if .Values.admin.tlsSecret }}
          - { name: admin-tls, mountPath: /etc/turnstile/tls, readOnly: true }
          {{- end }}
          {{- if .Values.kafka.caSecret }}
          - { name: kafka-ca, mountPath: /etc/turnstile/kafka-ca, readOnly: true }
          {{- end }}
          {{- if .Values.audit.hmacKeySecret }}
          - { name: audit-key, mountPath: /etc/turnstile/audit, readOnly: true }
          {{- end }}
          {{- with .Values.extraVolumeMounts }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
    volumes:
      - name: config
        configMap: { name: {{ include "turnstile.name" . }} }
      - name: tmp
        emptyDir: { sizeLimit: 64Mi }
      {{- if .Values.admin.tokensSecret }}
      # Owner and group (fsGroup) may read it; others not, as turnstile requires.
      - name: admin-tokens
        secret: { secretName: {{ .Values.admin.tokensSecret }}, defaultMode: 0440, items: [{ key: tokens.toml, path: tokens.toml }] }
      {{- end }}
      {{- if .Values.admin.tlsSecret }}
      - name: admin-tls
        secret: { secretName: {{ .Values.admin.tlsSecret }}, defaultMode: 0440 }
      {{- end }}
      {{- if .Values.kafka.caSecret }}
      - name: kafka-ca
        secret: { secretName: {{ .Values.kafka.caSecret }} }
      {{- end }}
      {{- if and (eq .Values.store.kind "postgres") .Values.store.postgres.caSecret }}
      - name: db-ca
        secret: { secretName: {{ .Values.store.postgres.caSecret }} }
      {{- end }}
      {{- if .Values.audit.hmacKeySecret }}
      # The audit HMAC key: owner and group may read it, others not, as turnstile requires.
      - name: audit-key
        secret: { secretName: {{ .Values.audit.hmacKeySecret }}, defaultMode: 0440, items: [{ key: key, path: key }] }
      {{- end }}
      {{- with .Values.extraVolumes }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
{{- end -}}
