#!/usr/bin/env bash
# install.sh builds the binaries the Kubernetes side of Vigil needs —
# kube-apiserver and etcd for envtest, controller-gen and helm for the
# generators and the chart, and gremlins for mutation testing
# (hack/mutation.sh) — from the Go module proxy alone.
#
# Why not setup-envtest: it downloads release tarballs, which an offline
# machine (and this project's CI) cannot reach. Everything here comes from
# the Go module proxy, which is reachable, and lands in a per-machine cache
# outside the work tree, so it is built once per machine, not once per clone.
#
# The asset directory uses setup-envtest's layout (k8s/<version>-<os>-<arch>),
# so `setup-envtest use -i --bin-dir <cache>` recognises it too.
#
# Usage:
#   hack/envtest/install.sh [component...]   build what is missing, print the asset dir
#   hack/envtest/install.sh --print-assets   print the asset dir, build nothing
#   hack/envtest/install.sh --print-bin      print the tools dir, build nothing
# Components: kube-apiserver etcd controller-gen helm kubectl gremlins golangci-lint
# (default: the first four; `make mutation` and `make lint` ask for theirs).
# Progress goes to stderr; stdout carries only the printed directory, so
#   export KUBEBUILDER_ASSETS="$(hack/envtest/install.sh)"
# works.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
GREMLINS_VERSION="${GREMLINS_VERSION:-v0.6.0}"
GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"

GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
CACHE="${VIGIL_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil/envtest}"
ASSETS="$CACHE/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
BIN="$CACHE/bin"

# The staging modules of k8s.io/kubernetes are published as k8s.io/X v0.<minor>.<patch>.
K8S_MAJOR="${K8S_VERSION%%.*}"
K8S_MINOR_PATCH="${K8S_VERSION#*.}"
K8S_MINOR="${K8S_MINOR_PATCH%%.*}"
K8S_STAGING_VERSION="v0.${K8S_MINOR_PATCH}"

log() { printf 'envtest: %s\n' "$*" >&2; }

case "${1:-}" in
--print-assets)
	echo "$ASSETS"
	exit 0
	;;
--print-bin)
	echo "$BIN"
	exit 0
	;;
-h | --help)
	sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
	components=(kube-apiserver etcd controller-gen helm)
fi

mkdir -p "$ASSETS" "$BIN"

# gremlins alone, already built, needs no lock: a mutation run must not wait
# behind another clone's kube-apiserver build, which takes many minutes.
# Builds replace binaries with a rename, so this check never sees half of one.
if [ "${components[*]}" = gremlins ] && [ -x "$BIN/gremlins" ] &&
	"$BIN/gremlins" --version 2>&1 | grep -qF -- "gremlins version ${GREMLINS_VERSION} "; then
	log "gremlins ${GREMLINS_VERSION} already built"
	echo "$ASSETS"
	exit 0
fi

# One build at a time per machine: two `make test` runs (or two packages'
# tests) must not race on the same half-written binary.
exec 9>"$CACHE/.lock"
flock 9

# Builds run in a throwaway module in a temp dir with the work tree's
# go.mod out of reach; the shared module cache keeps re-runs fast.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vigil-envtest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# has_version FILE PATTERN ARGS... succeeds when FILE runs and its version
# output contains PATTERN.
has_version() {
	local file="$1" pattern="$2" out
	shift 2
	[ -x "$file" ] || return 1
	# Read the whole output before matching: `grep -q` in a pipe exits at
	# the first match, the binary dies of SIGPIPE writing the rest, and
	# under pipefail that made a working etcd "not run".
	out="$("$file" "$@" 2>&1)" || true
	grep -qF -- "$pattern" <<<"$out"
}

# new_module DIR creates an empty throwaway module in DIR.
new_module() {
	mkdir -p "$1"
	(cd "$1" && go mod init vigil.invalid/envtest-build >/dev/null 2>&1)
}

# k8s_module DIR prepares a module that can build commands of
# k8s.io/kubernetes: it requires the release and points every staging module
# (./staging/src/k8s.io/X in kubernetes' own go.mod, which a dependency's
# replace directives cannot reach) at its published version.
k8s_module() {
	local dir="$1" gomod
	new_module "$dir"
	gomod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	[ -f "$gomod" ] || {
		log "cannot download k8s.io/kubernetes@v${K8S_VERSION}"
		return 1
	}
	local args=(-require="k8s.io/kubernetes@v${K8S_VERSION}")
	local mod
	for mod in $(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$gomod"); do
		case "$mod" in
		k8s.io/sample-*) continue ;; # never published to the proxy
		esac
		args+=(-replace="${mod}=${mod}@${K8S_STAGING_VERSION}")
	done
	(cd "$dir" && go mod edit "${args[@]}")
}

k8s_ldflags() {
	local pkg flags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X ${pkg}.gitVersion=v${K8S_VERSION}"
		flags+=" -X ${pkg}.gitMajor=${K8S_MAJOR}"
		flags+=" -X ${pkg}.gitMinor=${K8S_MINOR}"
		flags+=" -X ${pkg}.gitTreeState=clean"
		flags+=" -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$flags"
}

# build_k8s CMD builds k8s.io/kubernetes/cmd/CMD into the asset dir.
build_k8s() {
	local cmd="$1" out="$ASSETS/$1"
	local verargs=(--version)
	[ "$cmd" = kubectl ] && verargs=(version --client)
	if has_version "$out" "v${K8S_VERSION}" "${verargs[@]}"; then
		log "$cmd v${K8S_VERSION} already built"
		return 0
	fi
	log "building $cmd v${K8S_VERSION} (several minutes on 2 cores)"
	local dir="$WORK/$cmd"
	k8s_module "$dir"
	(
		cd "$dir"
		go get "k8s.io/kubernetes/cmd/${cmd}@v${K8S_VERSION}" >&2
		go build -trimpath -ldflags "$(k8s_ldflags)" -o "$out.tmp" "k8s.io/kubernetes/cmd/${cmd}" >&2
	)
	mv -f "$out.tmp" "$out"
	has_version "$out" "v${K8S_VERSION}" "${verargs[@]}" || {
		log "$out does not report v${K8S_VERSION}"
		return 1
	}
}

build_etcd() {
	local out="$ASSETS/etcd" want="${ETCD_VERSION#v}"
	if has_version "$out" "etcd Version: ${want}" --version; then
		log "etcd ${ETCD_VERSION} already built"
		return 0
	fi
	if has_version "$out" "etcd Version: 3." --version && [ -f "$out.debian" ]; then
		log "using Debian's etcd (the ${ETCD_VERSION} build failed before); delete $out to retry"
		return 0
	fi
	log "building etcd ${ETCD_VERSION}"
	local dir="$WORK/etcd"
	new_module "$dir"
	if (
		cd "$dir"
		go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
		go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3 >&2
	); then
		mv -f "$out.tmp" "$out"
		rm -f "$out.debian"
	else
		# Debian's etcd-server is older (3.4) but serves envtest well enough.
		log "etcd build failed; falling back to Debian's etcd-server"
		if [ ! -x /usr/bin/etcd ]; then
			apt-get install -y etcd-server >&2 || { apt-get update >&2 && apt-get install -y etcd-server >&2; }
		fi
		cp /usr/bin/etcd "$out"
		touch "$out.debian"
	fi
	has_version "$out" "etcd Version: 3." --version || {
		log "$out does not run"
		return 1
	}
}

build_controller_gen() {
	local out="$BIN/controller-gen"
	if has_version "$out" "$CONTROLLER_TOOLS_VERSION" --version; then
		log "controller-gen ${CONTROLLER_TOOLS_VERSION} already built"
		return 0
	fi
	log "building controller-gen ${CONTROLLER_TOOLS_VERSION}"
	local dir="$WORK/controller-gen"
	new_module "$dir"
	(
		cd "$dir"
		go get "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_TOOLS_VERSION}" >&2
		# controller-gen reads its version from build info, which a build
		# from a dependency module carries.
		go build -trimpath -o "$out.tmp" sigs.k8s.io/controller-tools/cmd/controller-gen >&2
	)
	mv -f "$out.tmp" "$out"
	has_version "$out" "$CONTROLLER_TOOLS_VERSION" --version || {
		log "$out does not report ${CONTROLLER_TOOLS_VERSION}"
		return 1
	}
}

build_helm() {
	local out="$BIN/helm"
	if has_version "$out" "$HELM_VERSION" version --short; then
		log "helm ${HELM_VERSION} already built"
		return 0
	fi
	log "building helm ${HELM_VERSION}"
	local dir="$WORK/helm"
	new_module "$dir"
	(
		cd "$dir"
		go get "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
		# Without these helm assumes Kubernetes v1.20 and `helm template`
		# fails charts whose kubeVersion asks for anything newer. Like helm's
		# own Makefile, derive them from its client-go: v0.N.x means 1.N.
		local cg major minor
		cg="$(go list -m -f '{{.Version}}' k8s.io/client-go)"
		cg="${cg#v}"
		major=$((${cg%%.*} + 1))
		minor="${cg#*.}"
		minor="${minor%%.*}"
		local flags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
		flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
		flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${major}"
		flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${minor}"
		flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${major}"
		flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${minor}"
		go build -trimpath -ldflags "$flags" -o "$out.tmp" helm.sh/helm/v3/cmd/helm >&2
	)
	mv -f "$out.tmp" "$out"
	has_version "$out" "$HELM_VERSION" version --short || {
		log "$out does not report ${HELM_VERSION}"
		return 1
	}
}

build_gremlins() {
	local out="$BIN/gremlins"
	if has_version "$out" "gremlins version ${GREMLINS_VERSION} " --version; then
		log "gremlins ${GREMLINS_VERSION} already built"
		return 0
	fi
	log "building gremlins ${GREMLINS_VERSION}"
	local dir="$WORK/gremlins"
	new_module "$dir"
	(
		cd "$dir"
		go get "github.com/go-gremlins/gremlins/cmd/gremlins@${GREMLINS_VERSION}" >&2
		# gremlins takes its version from ldflags (its release builds set
		# it), not from build info: without this it says "dev".
		go build -trimpath -ldflags "-s -w -X main.version=${GREMLINS_VERSION}" \
			-o "$out.tmp" github.com/go-gremlins/gremlins/cmd/gremlins >&2
	)
	mv -f "$out.tmp" "$out"
	has_version "$out" "gremlins version ${GREMLINS_VERSION} " --version || {
		log "$out does not report ${GREMLINS_VERSION}"
		return 1
	}
}

# build_golangci_lint installs golangci-lint with `go install pkg@version`:
# its main module is then golangci-lint itself, so `golangci-lint version`
# reports the pinned version, and it is built by this machine's Go, which
# golangci-lint requires to be at least the go.mod's Go version.
build_golangci_lint() {
	local out="$BIN/golangci-lint"
	if has_version "$out" "version ${GOLANGCI_LINT_VERSION#v} " version; then
		log "golangci-lint ${GOLANGCI_LINT_VERSION} already built"
		return 0
	fi
	log "building golangci-lint ${GOLANGCI_LINT_VERSION} (a few minutes on 2 cores)"
	local dir="$WORK/golangci-lint"
	mkdir -p "$dir"
	GOBIN="$dir" go install -trimpath -ldflags "-s -w" \
		"github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}" >&2
	mv -f "$dir/golangci-lint" "$out"
	has_version "$out" "version ${GOLANGCI_LINT_VERSION#v} " version || {
		log "$out does not report ${GOLANGCI_LINT_VERSION}"
		return 1
	}
}

for c in "${components[@]}"; do
	start=$SECONDS
	case "$c" in
	kube-apiserver | kubectl) build_k8s "$c" ;;
	etcd) build_etcd ;;
	controller-gen) build_controller_gen ;;
	helm) build_helm ;;
	gremlins) build_gremlins ;;
	golangci-lint) build_golangci_lint ;;
	*)
		log "unknown component $c"
		exit 2
		;;
	esac
	log "$c ready ($((SECONDS - start))s)"
done

echo "$ASSETS"
