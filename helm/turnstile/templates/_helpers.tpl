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
{{- if ne .Values.store.kind "sqlite" -}}
{{- fail (printf "store.kind %q: this version has only the embedded SQLite store (one replica, a StatefulSet); the PostgreSQL store for several replicas is not built yet" .Values.store.kind) -}}
{{- end -}}
{{- if ne (int .Values.replicas) 1 -}}
{{- fail "replicas: the SQLite store is one pod's own volume; keep replicas: 1" -}}
{{- end -}}
{{- end -}}
