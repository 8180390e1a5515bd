#!/usr/bin/env bash
# Set up negodissect on a fresh Debian machine: the system tools the tests use (tshark as the
# independent decoder to cross-check against; Samba, OpenLDAP, tcpdump and a KDC to make captures
# from real peers), then a virtual environment in .venv with negodissect and its test tools.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(tshark tcpdump samba smbclient winbind samba-dsdb-modules samba-ad-provision
              samba-vfs-modules krb5-user slapd ldap-utils apache2 libapache2-mod-auth-gssapi xxd
              bsdextrautils)

if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    missing=()
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        echo "wireshark-common wireshark-common/install-setuid boolean false" \
            | $sudo debconf-set-selections
        # slapd is only run by captures/make_captures.sh, with a config of its own: no system
        # directory, and no system slapd listening on port 389.
        echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # apache2 too is only run by make_captures.sh (http-kerberos), with a config of its own:
        # the service the package starts and enables on install must not hold port 80.
        if [[ " ${missing[*]} " == *" apache2 "* ]]; then
            for service in apache2 apache-htcacheclean; do
                $sudo service "$service" stop >/dev/null 2>&1 || true
                $sudo update-rc.d "$service" disable >/dev/null 2>&1 || true
                $sudo systemctl disable --quiet "$service" 2>/dev/null || true
            done
        fi
    fi
else
    echo "install.sh: no apt-get; install tshark yourself for the cross-check tests" >&2
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test,dask,parquet]'
echo "install.sh: ready; run .venv/bin/negodissect --help" >&2
