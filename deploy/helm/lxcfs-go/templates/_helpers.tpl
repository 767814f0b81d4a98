{{/* The files the daemon serves that a pod may be given. */}}
{{- define "lxcfs-go.knownFiles" -}}
proc/cpuinfo proc/diskstats proc/loadavg proc/meminfo proc/slabinfo proc/stat proc/swaps proc/uptime sys/devices/system/cpu proc/pressure/cpu proc/pressure/io proc/pressure/memory
{{- end -}}

{{- define "lxcfs-go.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* webhook.files, checked: a typo fails the install, not every pod. */}}
{{- define "lxcfs-go.files" -}}
{{- $known := splitList " " (include "lxcfs-go.knownFiles" .) -}}
{{- if not .Values.webhook.files -}}
{{- fail "webhook.files names no file" -}}
{{- end -}}
{{- range .Values.webhook.files -}}
{{- if not (has . $known) -}}
{{- fail (printf "webhook.files: %q is not one of %s" . (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- join "," .Values.webhook.files -}}
{{- end -}}

{{/* Namespaces the label and annotation entries never select. */}}
{{- define "lxcfs-go.excludedNamespaces" -}}
{{- $ns := .Values.webhook.injection.excludedNamespaces | default list -}}
{{- if not (has .Release.Namespace $ns) -}}
{{- $ns = append $ns .Release.Namespace -}}
{{- end -}}
{{- toJson $ns -}}
{{- end -}}
