#!/usr/bin/env bash
# Make small pcaps of real SMB authentication between Samba's smbclient and Samba servers
# (a standalone smbd and a throwaway AD DC), of DCE/RPC binds over SMB named pipes by rpcclient,
# of NTLM over HTTP between curl and Samba's ntlm_auth (behind http_ntlm_server.py), and of LDAP
# SASL binds (Samba's AD DC; OpenLDAP's slapd and ldapwhoami for PLAIN and DIGEST-MD5), on
# 127.0.0.1 only.  See captures/README.md.
#
# usage: make_captures.sh [OUTDIR] [SCENARIO...]
#   OUTDIR     where the .pcap files go (default: the folder of this script)
#   SCENARIO   any of: ntlm-success ntlm-wrong-password anonymous encrypted smb1 ntlm-multi guest
#              anonymous-refused rpc-pipes signing coercion relay kerberos rpc-kerberos http-ntlm
#              http-not-enforced ldap-sasl ldap-keys ldap-plain kdc-attacks kerberos-keys kdc-s4u
#              kpasswd kdc-golden http-kerberos tunnels (default: all); tunnels runs encapsulate.py on OUTDIR
#              (tunnel-*.pcap: copies of ntlm-success, smb1 and http-ntlm inside tunnels)
# Needs root (port 445, Unix users, tcpdump on lo).  Re-runnable: every run builds its servers in a
# fresh temp dir, which is removed on exit (set KEEP_WORKDIR=1 to keep it for debugging).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
shift || true
ALL=(ntlm-success ntlm-wrong-password anonymous encrypted smb1 ntlm-multi guest anonymous-refused
    rpc-pipes signing coercion relay kerberos rpc-kerberos http-ntlm http-not-enforced ldap-sasl
    ldap-keys ldap-plain kdc-attacks kerberos-keys kdc-s4u kpasswd kdc-golden http-kerberos tunnels)
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=("${ALL[@]}")
for s in "${SCENARIOS[@]}"; do
    [[ " ${ALL[*]} " == *" $s "* ]] || { echo "unknown scenario: $s (known: ${ALL[*]})" >&2; exit 2; }
done

# Credentials (documented in README.md; tests compute NTLMv2 values from them).
ALICE_PASS='Alice-Pass-2024'
CAROL_PASSES=("$ALICE_PASS" 'Carol-Pass-2025' 'Carol-Pass-2026')  # carol's, changed by kpasswd
BOB_PASS='Bob-Pass-2024'
WRONG_PASS='Wrong-Pass-0000'
DC_REALM='NEGO.TEST'
DC_DOMAIN='NEGO'
DC_HOST='dc1'
DC_ADMIN_PASS='Admin-Pass-2024!'
LOOPBACK=127.0.0.1
STEP_TIMEOUT=30          # seconds allowed for any one client command
ANONYMOUS_ATTEMPTS=6     # refused null sessions in anonymous-refused (over the findings threshold)
HTTP_PORT=8480
HTTP_KRB_PORT=8080       # apache2 with mod_auth_gssapi (scenario http-kerberos)
RELAY_PORT=4445          # tests/smb_relay.py listens here and forwards to smbd (scenario relay)
PYTHON=${PYTHON:-$HERE/../.venv/bin/python}  # with scapy, for encapsulate.py
CAPTURE_FILTER="host $LOOPBACK and (port 445 or port 139 or port 88 or port 464 or port 389 or port $HTTP_PORT or port $HTTP_KRB_PORT or port $RELAY_PORT)"

[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }
for tool in smbd smbclient smbpasswd tcpdump ss; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/negodissect-captures.XXXXXX")
chmod 755 "$WORK"  # smbd serves a share from inside it as an unprivileged user
SERVER_PID=""
TCPDUMP_PID=""

log() { echo "[make_captures] $*" >&2; }

stop_pid() {  # stop_pid PID: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_server() {  # the server runs in its own process group; stop the whole group
    local pid
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        stop_pid "$SERVER_PID"
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    # Helpers smbd starts in their own session (samba-dcerpcd) name our config file, which lives
    # under the unique $WORK: stop exactly those.
    for pid in $(pgrep -f -- "$WORK/" || true); do
        [[ $pid == "$$" ]] || stop_pid "$pid"
    done
}

cleanup() {
    trap '' INT TERM  # finish cleaning up even when signalled again
    stop_pid "$TCPDUMP_PID"
    stop_server
    if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { ss -Hltn "sport = :$1" | grep -q .; }

wait_listening() {  # wait_listening PORT: until something listens on 127.0.0.1:PORT (20 s)
    local i
    for i in $(seq 200); do
        ss -Hltn "src $LOOPBACK and sport = :$1" | grep -q . && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { log "server died; see $WORK/log*"; return 1; }
        sleep 0.1
    done
    log "nothing listens on $LOOPBACK:$1"
    return 1
}

start_server() {  # start_server LOGFILE CMD...: run CMD in its own process group
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 &
    SERVER_PID=$!
    wait_listening 445
}

capture() {  # capture NAME CMD...: run CMD with tcpdump writing OUT/NAME.pcap; CMD may fail
    local name=$1 pcap="$OUT/$1.pcap" i
    shift
    rm -f "$pcap"
    # --immediate-mode: with libpcap's default buffering, packets still in the ring are lost
    # when tcpdump is interrupted (seen as "0 packets captured" on this kernel).
    tcpdump -i lo --immediate-mode -U -n -s 0 -Z root -w "$pcap" "$CAPTURE_FILTER" 2>"$WORK/tcpdump-$name.log" &
    TCPDUMP_PID=$!
    for i in $(seq 100); do grep -q 'listening on' "$WORK/tcpdump-$name.log" && break; sleep 0.1; done
    log "$name: $*"
    "$@" >"$WORK/client-$name.log" 2>&1 || log "$name: client exit status $? (may be expected)"
    sleep 0.5
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=""
    log "$name: wrote $pcap ($(stat -c %s "$pcap") bytes)"
}

client() {  # client ARGS...: bounded smbclient run against the current server config
    timeout "$STEP_TIMEOUT" smbclient --configfile="$CLIENT_CONF" "$@"
}

# ---------------------------------------------------------------- standalone smbd (NTLM, SMB1/2/3)
ensure_unix_user() {
    id "$1" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$1"
}

# Global smb.conf lines of the scenarios that need a server of their own: `guest` maps unknown
# users to the guest account; `anonymous-refused` requires encryption, so smbd refuses guest and
# anonymous sessions ("reject guest session as encryption is required").
# `coercion` serves spoolss (rpcd_spoolss, started by samba-dcerpcd) and a printer share `lp`.
declare -A STANDALONE_OPTIONS=(
    [guest]="map to guest = bad user"
    [anonymous-refused]="server smb encrypt = required"
    [coercion]=$'disable spoolss = no\n[lp]\n    path = /tmp\n    printable = yes\n    admin users = alice'
)

setup_standalone() {  # setup_standalone [GLOBAL_OPTION]: smb.conf, users, smbd started
    local d=$WORK/standalone extra=${1:-}
    rm -rf "$d"
    mkdir -p "$d"/{lock,state,cache,pid,private,ncalrpc,share}
    echo "hello from negodissect" >"$d/share/hello.txt"
    chmod -R a+rX "$d"
    cat >"$d/smb.conf" <<EOF
[global]
    netbios name = NEGOSMBD
    workgroup = NEGOTEST
    server role = standalone server
    interfaces = $LOOPBACK/8
    bind interfaces only = yes
    smb ports = 445
    disable netbios = yes
    lock directory = $d/lock
    state directory = $d/state
    cache directory = $d/cache
    pid directory = $d/pid
    private dir = $d/private
    ncalrpc dir = $d/ncalrpc
    passdb backend = tdbsam:$d/private/passdb.tdb
    log file = $d/log.%m
    log level = 1
    server min protocol = NT1
    client min protocol = NT1
    ntlm auth = ntlmv2-only
    map to guest = never
    restrict anonymous = 0
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    $extra
[share]
    path = $d/share
    read only = yes
    guest ok = yes
[secret]
    path = $d/share
    read only = yes
    smb encrypt = required
EOF
    CLIENT_CONF=$d/smb.conf
    ensure_unix_user alice
    ensure_unix_user bob
    printf '%s\n%s\n' "$ALICE_PASS" "$ALICE_PASS" | smbpasswd -c "$d/smb.conf" -s -a alice >/dev/null
    printf '%s\n%s\n' "$BOB_PASS" "$BOB_PASS" | smbpasswd -c "$d/smb.conf" -s -a bob >/dev/null
    if port_in_use 445; then
        log "port 445 is already in use (a system smbd?); stop it first: systemctl stop smbd"
        exit 1
    fi
    start_server "$d/log.smbd-stdout" smbd --configfile="$d/smb.conf" --foreground --no-process-group
}

spray() {  # five wrong passwords for each of two users, from one client
    local user i
    for user in alice bob; do
        for i in 1 2 3 4 5; do
            client "//$LOOPBACK/share" -m SMB3 -U "$user%$WRONG_PASS-$i" -c ls || true
        done
    done
}

guest_logons() {  # both mapped to the guest account ("map to guest = bad user")
    # A user name and no password (-N): smbclient sends empty LM and NT responses.
    client "//$LOOPBACK/share" -m SMB3 -U guest -N -c ls
    # An unknown user with a password: a real NTLMv2 response, for a user smbd does not know.
    client "//$LOOPBACK/share" -m SMB3 -U "nosuchuser%$WRONG_PASS" -c ls
}

refused_anonymous() {  # null sessions against a server that refuses them
    local i
    for i in $(seq "$ANONYMOUS_ATTEMPTS"); do client -N -U% -L "$LOOPBACK" -m SMB3 || true; done
}

rpc_pipes() {  # rpcclient over named pipes, up to PROTOCOL: NTLM binds, sealed then signed
    local names
    # 400 names: the lookupnames request and its answer span several DCE/RPC fragments
    names=$(printf 'nobody%03d ' $(seq 400))
    # IPC$ connections follow "client ipc max protocol", not --max-protocol
    timeout "$STEP_TIMEOUT" rpcclient --configfile="$CLIENT_CONF" \
        --option="client ipc max protocol=$1" -U "alice%$ALICE_PASS" \
        "ncacn_np:$LOOPBACK[sign,seal]" -c "lsaquery; lookupnames $names; enumdomusers; srvinfo"
    timeout "$STEP_TIMEOUT" rpcclient --configfile="$CLIENT_CONF" \
        --option="client ipc max protocol=$1" -U "alice%$ALICE_PASS" \
        "ncacn_np:$LOOPBACK[sign]" -c "srvinfo"
}

signed_logons() {  # one signed logon per dialect; 3.1.1 twice: AES-GMAC, then AES-CMAC forced
    local dialect
    for dialect in SMB2_02 SMB2_10 SMB3_00 SMB3_02 SMB3_11; do
        client "//$LOOPBACK/share" -m "$dialect" --client-protection=sign -U "alice%$ALICE_PASS" -c ls
    done
    client "//$LOOPBACK/share" -m SMB3_11 --client-protection=sign \
        --option='client smb3 signing algorithms=AES-128-CMAC' -U "alice%$ALICE_PASS" -c ls
}

coercion_calls() {  # the calls coercion tools make, by rpcclient over \PIPE\spoolss and FSRVP
    # MS-RPRN RpcRemoteFindFirstPrinterChangeNotificationEx (opnum 65, "PrinterBug"): the server
    # is asked to call the client's name back; MS-FSRVP IsPathSupported (opnum 8, "ShadowCoerce")
    timeout "$STEP_TIMEOUT" rpcclient --configfile="$CLIENT_CONF" -U "alice%$ALICE_PASS" \
        "ncacn_np:$LOOPBACK" -c "rffpcnex lp" || true
    timeout "$STEP_TIMEOUT" rpcclient --configfile="$CLIENT_CONF" -U "alice%$ALICE_PASS" \
        "ncacn_np:$LOOPBACK" -c "fss_is_path_sup share" || true
}

relayed_logon() {  # smbclient -> tests/smb_relay.py on RELAY_PORT -> smbd: one logon, two connections
    local relay i
    port_in_use "$RELAY_PORT" && { log "port $RELAY_PORT is in use"; return 1; }
    python3 "$HERE/../tests/smb_relay.py" "$RELAY_PORT" 445 1 &
    relay=$!
    for i in $(seq 100); do
        ss -Hltn "src $LOOPBACK and sport = :$RELAY_PORT" | grep -q . && break
        sleep 0.1
    done
    client "//$LOOPBACK/share" --port="$RELAY_PORT" -m SMB3 -U "alice%$ALICE_PASS" -c ls || true
    wait "$relay" || true
}

run_standalone() {
    local s
    for s in "$@"; do
        case $s in
        ntlm-success)
            capture smb2-ntlm-success client "//$LOOPBACK/share" -m SMB3 -U "alice%$ALICE_PASS" -c ls ;;
        ntlm-wrong-password)
            capture smb2-ntlm-wrong-password \
                client "//$LOOPBACK/share" -m SMB3 -U "alice%$WRONG_PASS" -c ls ;;
        anonymous)
            capture smb2-anonymous client -N -U% -L "$LOOPBACK" -m SMB3 ;;
        encrypted)
            capture smb3-encrypted client "//$LOOPBACK/secret" -m SMB3 -U "alice%$ALICE_PASS" \
                --client-protection=encrypt -c ls ;;
        smb1)
            capture smb1-ntlm client "//$LOOPBACK/share" -m NT1 --option='client min protocol=NT1' \
                -U "alice%$ALICE_PASS" -c ls ;;
        ntlm-multi)
            capture smb2-ntlm-multi spray ;;
        guest)
            capture smb2-guest guest_logons ;;
        anonymous-refused)
            capture smb2-anonymous-refused refused_anonymous ;;
        rpc-pipes)
            capture smb2-rpc-pipes rpc_pipes SMB3
            capture smb1-rpc-pipes rpc_pipes NT1 ;;
        signing)
            capture smb2-signing signed_logons ;;
        coercion)
            capture smb2-coercion coercion_calls ;;
        relay)
            capture smb2-relay relayed_logon ;;
        esac
    done
}

# ---------------------------------------------------------------- Samba AD DC (Kerberos)
setup_dc() {
    local d=$WORK/dc
    mkdir -p "$d/etc" "$d/pid"
    : >"$d/etc/smb.conf"  # provision into an empty config, not on top of /etc/samba/smb.conf
    command -v samba >/dev/null && command -v samba-tool >/dev/null && command -v kinit >/dev/null \
        || { log "kerberos: samba (AD DC), samba-tool or kinit not installed"; return 1; }
    log "kerberos: provisioning a throwaway AD DC in $d"
    timeout 300 samba-tool domain provision --configfile="$d/etc/smb.conf" --targetdir="$d" \
        --use-rfc2307 \
        --realm="$DC_REALM" --domain="$DC_DOMAIN" --host-name="$DC_HOST" --server-role=dc \
        --dns-backend=NONE --adminpass="$DC_ADMIN_PASS" \
        --option="interfaces = $LOOPBACK/8" --option="bind interfaces only = yes" \
        --option="disable netbios = yes" --option="smb ports = 445" \
        --option="log file = $d/log.%m" --option="pid directory = $d/pid" \
        --option="ncalrpc dir = $d/ncalrpc" \
        --option="ntp signd socket directory = $d/ntp_signd" \
        --option="kdc default domain supported enctypes = aes256-cts-hmac-sha1-96" \
        >"$d/provision.log" 2>&1 || { log "kerberos: provision failed, see $d/provision.log"; return 1; }
    CLIENT_CONF=$d/etc/smb.conf
    cat >"$d/krb5.conf" <<EOF
[libdefaults]
    default_realm = $DC_REALM
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
[realms]
    $DC_REALM = {
        kdc = $LOOPBACK
    }
[domain_realm]
    .${DC_REALM,,} = $DC_REALM
EOF
    export KRB5_CONFIG=$d/krb5.conf KRB5CCNAME=FILE:$d/ccache
    samba-tool user create alice "$ALICE_PASS" --configfile="$CLIENT_CONF" >/dev/null
    # A user account that wrongly holds the SPN of another host: tickets for it are encrypted
    # with this user's key, which the DC's smbd does not have -> AP-REQ fails.
    samba-tool user create svc-wrongspn "$ALICE_PASS" --configfile="$CLIENT_CONF" >/dev/null
    samba-tool spn add "cifs/wrong.${DC_REALM,,}" svc-wrongspn --configfile="$CLIENT_CONF" >/dev/null
    # A service account whose tickets are RC4 (msDS-SupportedEncryptionTypes 0x4, MS-KILE
    # 2.2.7): the ticket's etype follows the account, not the client's request.
    samba-tool user create svc-rc4 "$ALICE_PASS" --configfile="$CLIENT_CONF" >/dev/null
    samba-tool spn add "http/rc4.${DC_REALM,,}" svc-rc4 --configfile="$CLIENT_CONF" >/dev/null
    printf '#!/bin/sh\nsed -i "1a msDS-SupportedEncryptionTypes: 4" "$1"\n' >"$d/add-rc4"
    chmod +x "$d/add-rc4"
    samba-tool user edit svc-rc4 --editor="$d/add-rc4" --configfile="$CLIENT_CONF" >/dev/null
    # A client asking only RC4 in its AS-REQ (its PA-ENC-TIMESTAMP and AS-REP are RC4).
    sed 's/^\[libdefaults\]$/&\n    default_tkt_enctypes = rc4-hmac/' "$d/krb5.conf" >"$d/krb5-rc4.conf"
    if port_in_use 445 || port_in_use 88; then log "kerberos: port 445 or 88 in use"; return 1; fi
    # smbd reaches the DC's winbindd through the compiled-in socket directory (/run/samba/winbindd;
    # libwbclient ignores smb.conf), so a system winbindd would be used instead of ours.
    if pgrep -x winbindd >/dev/null; then log "kerberos: stop the system winbindd first"; return 1; fi
    start_server "$d/log.samba-stdout" samba --configfile="$CLIENT_CONF" --foreground \
        --no-process-group
    wait_listening 88
}

kinit_as() {  # kinit_as PRINCIPAL PASSWORD (failures are part of the scenario)
    printf '%s\n' "$2" | timeout "$STEP_TIMEOUT" kinit "$1@$DC_REALM" || true
}

smbclient_krb() {  # smbclient_krb HOST: list the DC's netlogon share as HOST with the ccache
    client "//$1/netlogon" -I "$LOOPBACK" -N --use-kerberos=required \
        --use-krb5-ccache="$KRB5CCNAME" -m SMB3 -c ls
}

krb_success() {
    kinit_as alice "$ALICE_PASS"
    smbclient_krb "$DC_HOST.${DC_REALM,,}"
}

rpc_krb() {  # rpcclient over a named pipe of the DC with the ccache: Kerberos binds
    timeout "$STEP_TIMEOUT" rpcclient --configfile="$CLIENT_CONF" -I "$LOOPBACK" -m SMB3 \
        --use-kerberos=required --use-krb5-ccache="$KRB5CCNAME" \
        "ncacn_np:$DC_HOST.${DC_REALM,,}[sign,seal]" -c 'lsaquery; enumdomusers'
}

krb_failure() {  # KDC errors on port 88, then an AP-REQ the server cannot decrypt
    kinit_as nosuchuser "$ALICE_PASS"
    kinit_as alice "$WRONG_PASS"
    kinit_as alice "$ALICE_PASS"
    smbclient_krb "wrong.${DC_REALM,,}"
}

kdc_attacks() {  # user enumeration, password spraying, an RC4 AS exchange, an RC4-only TGS-REQ
    local u
    for u in nosuchuser1 nosuchuser2 nosuchuser3; do kinit_as "$u" "$ALICE_PASS"; done
    for u in alice svc-wrongspn alice svc-wrongspn alice; do kinit_as "$u" "$WRONG_PASS"; done
    KRB5_CONFIG=$WORK/dc/krb5-rc4.conf kinit_as alice "$ALICE_PASS"
    kinit_as alice "$ALICE_PASS"
    timeout "$STEP_TIMEOUT" kvno -e rc4-hmac "http/rc4.${DC_REALM,,}@$DC_REALM" || true
}

ldap_sasl() {  # SASL GSS-SPNEGO binds to the DC's LDAP: NTLM, then Kerberos
    timeout "$STEP_TIMEOUT" samba-tool user list --configfile="$CLIENT_CONF" -H "ldap://$LOOPBACK" \
        -U "$DC_DOMAIN\\alice%$ALICE_PASS" --use-kerberos=off || true
    ldap_krb
}

ldap_krb() {  # a SASL GSS-SPNEGO bind to the DC's LDAP with Kerberos (the ccache's TGT)
    # Samba's client does not use Kerberos towards an IP address: name the DC, resolved by a
    # private /etc/hosts bind-mounted in a mount namespace of this one command only.
    (cat /etc/hosts; echo "$LOOPBACK $DC_HOST.${DC_REALM,,}") >"$WORK/dc/hosts"
    timeout "$STEP_TIMEOUT" unshare --mount sh -c 'mount --bind "$0" /etc/hosts && "$@"' \
        "$WORK/dc/hosts" samba-tool user list --configfile="$CLIENT_CONF" \
        -H "ldap://$DC_HOST.${DC_REALM,,}" --use-kerberos=required --use-krb5-ccache="$KRB5CCNAME" \
        || true
}

ldap_keys() {  # the Kerberos bind of ldap_sasl after a kinit, to decrypt with the keytab
    kinit_as alice "$ALICE_PASS"
    ldap_krb
}

krb_keys() {  # Kerberos everywhere, for decryption with the keytab exported afterwards
    kinit_as alice "$ALICE_PASS"
    smbclient_krb "$DC_HOST.${DC_REALM,,}"
    rpc_krb
    timeout "$STEP_TIMEOUT" kvno "http/rc4.${DC_REALM,,}@$DC_REALM" || true
}

s4u() {  # S4U2Self and S4U2Proxy by a service account trusted to delegate to the DC's cifs
    local svc=svc-deleg
    # a forwardable TGT: S4U2Self then gives a forwardable evidence ticket (MS-SFU 3.2.5.1.2)
    printf '%s\n' "$ALICE_PASS" | timeout "$STEP_TIMEOUT" kinit -f "$svc@$DC_REALM" || true
    # S4U2Self for a user, then S4U2Proxy with that evidence ticket to cifs/dc1 (MS-SFU 3.2.5)
    timeout "$STEP_TIMEOUT" kvno -U alice -P "cifs/$DC_HOST.${DC_REALM,,}@$DC_REALM" || true
    # S4U2Self for the domain's Administrator (a privileged account), to the service itself
    timeout "$STEP_TIMEOUT" kvno -U administrator "$svc@$DC_REALM" || true
    timeout "$STEP_TIMEOUT" kvno -U "Administrator@$DC_REALM" "$svc@$DC_REALM" || true
    # an AS-REQ naming the DC's account without its "$" (the noPac first step, CVE-2021-42278)
    kinit_as "$DC_HOST" "$WRONG_PASS"
}

golden_tgt() {  # before the capture: a TGT of alice that the capture will not show issued
    KRB5CCNAME=FILE:$WORK/dc/ccache-before kinit_as alice "$ALICE_PASS"
}

golden_clues() {  # a new AS exchange for alice, then a TGS-REQ presenting the TGT saved before
    kinit_as alice "$ALICE_PASS"
    KRB5CCNAME=FILE:$WORK/dc/ccache-before timeout "$STEP_TIMEOUT" \
        kvno "cifs/$DC_HOST.${DC_REALM,,}@$DC_REALM" || true
}

s4u_accounts() {  # the service account of s4u, trusted to delegate to the DC's cifs service
    local svc=svc-deleg
    samba-tool user create "$svc" "$ALICE_PASS" --configfile="$CLIENT_CONF" >/dev/null
    samba-tool spn add "http/deleg.${DC_REALM,,}" "$svc" --configfile="$CLIENT_CONF" >/dev/null
    samba-tool delegation for-any-protocol "$svc" on --configfile="$CLIENT_CONF" >/dev/null
    samba-tool delegation add-service "$svc" "cifs/$DC_HOST.${DC_REALM,,}" \
        --configfile="$CLIENT_CONF" >/dev/null
}

kpasswd_changes() {  # RFC 3244 password changes with MIT kpasswd: over UDP, then over TCP
    local old=${CAROL_PASSES[0]} new=${CAROL_PASSES[1]} newer=${CAROL_PASSES[2]}
    printf '%s\n%s\n%s\n' "$old" "$new" "$new" \
        | KRB5_CONFIG=$WORK/dc/krb5-udp.conf timeout "$STEP_TIMEOUT" kpasswd "carol@$DC_REALM" \
        || true
    printf '%s\n%s\n%s\n' "$new" "$newer" "$newer" \
        | KRB5_CONFIG=$WORK/dc/krb5-tcp.conf timeout "$STEP_TIMEOUT" kpasswd "carol@$DC_REALM" \
        || true
}

kpasswd_accounts() {  # carol, whose password kpasswd changes twice in a row
    samba-tool domain passwordsettings set --min-pwd-age=0 --configfile="$CLIENT_CONF" >/dev/null
    samba-tool user create carol "$ALICE_PASS" --configfile="$CLIENT_CONF" >/dev/null
    # kpasswd on port 464 of the KDC (RFC 3244); krb5-tcp.conf makes the client use TCP,
    # krb5-udp.conf UDP
    sed "s/^\( *kdc = .*\)$/&\n        kpasswd_server = $LOOPBACK/" "$WORK/dc/krb5.conf" \
        >"$WORK/dc/krb5-kpw.conf"
    cp "$WORK/dc/krb5-kpw.conf" "$WORK/dc/krb5.conf"
    sed 's/^\[libdefaults\]$/&\n    udp_preference_limit = 1/' "$WORK/dc/krb5.conf" \
        >"$WORK/dc/krb5-tcp.conf"
    # krb5-udp.conf: UDP for any message size (MIT's largest udp_preference_limit)
    sed 's/^\[libdefaults\]$/&\n    udp_preference_limit = 32700/' "$WORK/dc/krb5.conf" \
        >"$WORK/dc/krb5-udp.conf"
}

export_keytab() {  # export_keytab NAME: every key of the throwaway domain as OUT/NAME.keytab
    rm -f "$OUT/$1.keytab"
    samba-tool domain exportkeytab "$OUT/$1.keytab" --configfile="$CLIENT_CONF" >/dev/null
    log "$1: wrote $OUT/$1.keytab ($(stat -c %s "$OUT/$1.keytab") bytes)"
}

add_password_keys() {  # add_password_keys NAME PRINCIPAL KVNO PASSWORD [KVNO PASSWORD...]
    # Keys of former passwords, which exportkeytab (current keys only) leaves out, appended to
    # OUT/NAME.keytab by MIT ktutil from the passwords (the default salt REALM+name, Samba's too).
    local name=$1 principal=$2@$DC_REALM etype commands=""
    shift 2
    while [[ $# -ge 2 ]]; do
        for etype in aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 arcfour-hmac; do
            commands+="addent -password -p $principal -k $1 -e $etype"$'\n'"$2"$'\n'
        done
        shift 2
    done
    printf '%swkt %s\n' "$commands" "$OUT/$name.keytab" | ktutil >/dev/null
    log "$name: added the former keys of $principal ($(stat -c %s "$OUT/$name.keytab") bytes)"
}

# Apache's mod_auth_gssapi accepting Negotiate (RFC 4559) with Kerberos for HTTP/dc1, on the DC's
# loopback; the hosts file names dc1 and wrong (an SPN whose key apache does not have).
APACHE_MODULES=(mpm_prefork authn_core authz_core authz_user auth_gssapi)

start_apache_gssapi() {  # apache2 on HTTP_KRB_PORT with the DC account's keys for HTTP/dc1
    local d=$WORK/apache module realm=${DC_REALM,,}
    command -v apache2 >/dev/null && [[ -f /usr/lib/apache2/modules/mod_auth_gssapi.so ]] \
        || { log "http-kerberos needs apache2 and libapache2-mod-auth-gssapi"; return 1; }
    port_in_use "$HTTP_KRB_PORT" && { log "port $HTTP_KRB_PORT is in use"; return 1; }
    mkdir -p "$d/htdocs"
    echo "hello from negodissect" | tee "$d/htdocs/a" >"$d/htdocs/b"
    # The DC's own account serves HTTP/dc1 (MS-KILE 3.1.5.1); svc-wrongspn holds HTTP/wrong, a
    # name apache answers too but whose key it lacks (the AP-REQ fails).
    samba-tool spn add "HTTP/$DC_HOST.$realm" "${DC_HOST^^}\$" --configfile="$CLIENT_CONF" \
        >/dev/null
    samba-tool spn add "HTTP/wrong.$realm" svc-wrongspn --configfile="$CLIENT_CONF" >/dev/null
    samba-tool domain exportkeytab "$d/http.keytab" --principal="HTTP/$DC_HOST.$realm" \
        --configfile="$CLIENT_CONF" >/dev/null
    chown www-data "$d/http.keytab"
    {
        echo "ServerRoot $d"
        echo "ServerName $DC_HOST.$realm"
        echo "DefaultRuntimeDir $d"
        echo "PidFile $d/httpd.pid"
        echo "ErrorLog $d/error.log"
        echo "LogLevel info"
        echo "User www-data"
        echo "Group www-data"
        echo "Listen $LOOPBACK:$HTTP_KRB_PORT"
        for module in "${APACHE_MODULES[@]}"; do
            echo "LoadModule ${module}_module /usr/lib/apache2/modules/mod_$module.so"
        done
        echo "DocumentRoot $d/htdocs"
        echo "<Location />"
        echo "    AuthType GSSAPI"
        echo "    AuthName negodissect"
        echo "    GssapiCredStore keytab:$d/http.keytab"
        echo "    Require valid-user"
        echo "</Location>"
    } >"$d/httpd.conf"
    # one line each: a resolver's canonical name is the first name of the line (curl and MIT
    # krb5 name the service by it)
    (cat /etc/hosts; printf '%s %s\n' "$LOOPBACK" "$DC_HOST.$realm" "$LOOPBACK" "wrong.$realm") \
        >"$d/hosts"
    setsid apache2 -f "$d/httpd.conf" -k start >"$d/log-apache" 2>&1 \
        || { log "apache2 did not start, see $d/log-apache and $d/error.log"; return 1; }
    wait_listening "$HTTP_KRB_PORT"
}

stop_apache_gssapi() {  # (stop_server also stops it: its command line names $WORK)
    apache2 -f "$WORK/apache/httpd.conf" -k stop >/dev/null 2>&1 || true
}

http_krb() {  # curl --negotiate: two requests on one connection, then a service without its key
    local realm=${DC_REALM,,} url
    url="http://$DC_HOST.$realm:$HTTP_KRB_PORT"
    kinit_as alice "$ALICE_PASS"
    # curl names the service HTTP@host (a host-based service name, RFC 2743 4.1) after the URL's
    # host, resolved by the private hosts file
    timeout "$STEP_TIMEOUT" unshare --mount sh -c 'mount --bind "$0" /etc/hosts && "$@"' \
        "$WORK/apache/hosts" curl -sS --negotiate -u : "$url/a" "$url/b" || true
    timeout "$STEP_TIMEOUT" unshare --mount sh -c 'mount --bind "$0" /etc/hosts && "$@"' \
        "$WORK/apache/hosts" curl -sS --negotiate -u : "http://wrong.$realm:$HTTP_KRB_PORT/a" \
        || true
}

run_dc() {
    setup_dc || return 1
    local s
    for s in "$@"; do
        case $s in
        kerberos)
            capture smb2-kerberos krb_success
            export_keytab smb2-kerberos
            capture smb2-kerberos-failure krb_failure
            export_keytab smb2-kerberos-failure ;;
        rpc-kerberos)
            kinit_as alice "$ALICE_PASS"
            capture smb2-rpc-kerberos rpc_krb
            export_keytab smb2-rpc-kerberos ;;
        kdc-attacks)
            capture kdc-attacks kdc_attacks
            export_keytab kdc-attacks ;;
        kerberos-keys)
            capture kerberos-keys krb_keys
            export_keytab kerberos-keys ;;
        kdc-s4u)
            s4u_accounts
            capture kdc-s4u s4u
            export_keytab kdc-s4u ;;
        kdc-golden)
            golden_tgt
            capture kdc-golden golden_clues
            export_keytab kdc-golden ;;
        kpasswd)
            kpasswd_accounts
            # an empty ccache: MIT kpasswd armors its AS-REQ (RFC 6113 FAST) with a TGT found there
            KRB5CCNAME=FILE:$WORK/dc/ccache-kpasswd capture kpasswd kpasswd_changes
            export_keytab kpasswd
            add_password_keys kpasswd carol 2 "${CAROL_PASSES[0]}" 3 "${CAROL_PASSES[1]}" ;;
        ldap-sasl)
            wait_listening 389
            kinit_as alice "$ALICE_PASS" 2>/dev/null  # the TGS exchange stays in the capture
            capture ldap-sasl ldap_sasl
            export_keytab ldap-sasl ;;
        ldap-keys)
            wait_listening 389
            capture ldap-keys ldap_keys
            export_keytab ldap-keys ;;
        http-kerberos)
            start_apache_gssapi || return 1
            capture http-kerberos http_krb
            stop_apache_gssapi
            export_keytab http-kerberos ;;
        esac
    done
}

# ---------------------------------------------------------------- NTLM over HTTP ([MS-NTHT])
http_clients() {  # success with two requests on one connection, a wrong password, no credentials
    timeout "$STEP_TIMEOUT" curl -sS --ntlm -u "NEGOTEST\\alice:$ALICE_PASS" \
        "http://$LOOPBACK:$HTTP_PORT/a" "http://$LOOPBACK:$HTTP_PORT/b"
    timeout "$STEP_TIMEOUT" curl -sS --ntlm -u "NEGOTEST\\alice:$WRONG_PASS" \
        "http://$LOOPBACK:$HTTP_PORT/c"
    timeout "$STEP_TIMEOUT" curl -sS "http://$LOOPBACK:$HTTP_PORT/d"
}

http_not_enforced() {  # a page the server serves to anyone: 200 OK to the NTLM NEGOTIATE
    timeout "$STEP_TIMEOUT" curl -sS --ntlm -u "NEGOTEST\\alice:$ALICE_PASS" \
        "http://$LOOPBACK:$HTTP_PORT/open/e"
}

run_http() {  # run_http SCENARIO...
    command -v curl >/dev/null && command -v ntlm_auth >/dev/null \
        || { log "http-ntlm needs curl and ntlm_auth (winbind)"; return 1; }
    port_in_use "$HTTP_PORT" && { log "port $HTTP_PORT is in use"; return 1; }
    mkdir -p "$WORK/http"
    printf '[global]\n    workgroup = NEGOTEST\n    netbios name = NEGOWEB\n' >"$WORK/http/smb.conf"
    local dir
    for dir in lock state cache; do
        printf '    %s directory = %s\n' "$dir" "$WORK/http" >>"$WORK/http/smb.conf"
    done
    printf '    private dir = %s\n' "$WORK/http" >>"$WORK/http/smb.conf"
    setsid python3 "$HERE/http_ntlm_server.py" "$HTTP_PORT" "$WORK/http/smb.conf" NEGOTEST alice \
        "$ALICE_PASS" >"$WORK/log-http" 2>&1 &
    SERVER_PID=$!
    wait_listening "$HTTP_PORT"
    local s
    for s in "$@"; do
        case $s in
        http-ntlm) capture http-ntlm http_clients ;;
        http-not-enforced) capture http-ntlm-not-enforced http_not_enforced ;;
        esac
    done
}

# ---------------------------------------------------------------- OpenLDAP slapd (SASL PLAIN ...)
SLAPD_SUFFIX='dc=nego,dc=test'

setup_slapd() {  # a throwaway slapd on 127.0.0.1:389 whose SASL checks alice's userPassword
    local d=$WORK/slapd
    command -v slapd >/dev/null && command -v slapadd >/dev/null && command -v ldapwhoami >/dev/null \
        || { log "ldap-plain needs slapd and ldap-utils"; return 1; }
    port_in_use 389 && { log "port 389 is in use"; return 1; }
    mkdir -p "$d/db"
    # sasl-secprops none: PLAIN is offered without TLS (slapd's default is noanonymous,noplain);
    # sasl-auxprops slapd: SASL reads the cleartext userPassword of the entry authz-regexp names.
    cat >"$d/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $d/slapd.pid
argsfile $d/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
sasl-secprops none
sasl-auxprops slapd
authz-regexp "^uid=([^,]+)(,cn=[^,]+)?,cn=[^,]+,cn=auth\$" "uid=\$1,ou=people,$SLAPD_SUFFIX"
database mdb
suffix "$SLAPD_SUFFIX"
rootdn "cn=admin,$SLAPD_SUFFIX"
rootpw $DC_ADMIN_PASS
directory $d/db
access to attrs=userPassword by anonymous auth by * none
access to * by * read
EOF
    cat >"$d/base.ldif" <<EOF
dn: $SLAPD_SUFFIX
objectClass: dcObject
objectClass: organization
o: nego
dc: nego

dn: ou=people,$SLAPD_SUFFIX
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,$SLAPD_SUFFIX
objectClass: inetOrgPerson
uid: alice
cn: alice
sn: alice
userPassword: $ALICE_PASS
EOF
    slapadd -f "$d/slapd.conf" -l "$d/base.ldif" >"$d/slapadd.log" 2>&1 \
        || { log "slapadd failed, see $d/slapadd.log"; return 1; }
    setsid slapd -h "ldap://$LOOPBACK:389/" -f "$d/slapd.conf" -d 0 >"$d/log-slapd" 2>&1 &
    SERVER_PID=$!
    wait_listening 389
}

ldap_plain() {  # ldapwhoami binds with SASL PLAIN (right, then wrong password) and DIGEST-MD5
    local who=(timeout "$STEP_TIMEOUT" env LDAPNOINIT=1 ldapwhoami -H "ldap://$LOOPBACK" -O none)
    "${who[@]}" -Y PLAIN -U alice -w "$ALICE_PASS"
    "${who[@]}" -Y PLAIN -U alice -w "$WRONG_PASS" || true
    "${who[@]}" -Y DIGEST-MD5 -U alice -w "$ALICE_PASS"
}

run_slapd() {
    setup_slapd || return 1
    capture ldap-sasl-plain ldap_plain
}

STANDALONE=()
OWN_SERVER=()  # standalone scenarios with smb.conf options of their own (STANDALONE_OPTIONS)
DC_SCENARIOS=()
HTTP_SCENARIOS=()
WANT_SLAPD=0
WANT_TUNNELS=0
for s in "${SCENARIOS[@]}"; do
    if [[ $s == kerberos || $s == rpc-kerberos || $s == ldap-sasl || $s == ldap-keys \
        || $s == kdc-attacks || $s == kerberos-keys || $s == kdc-s4u || $s == kpasswd \
        || $s == kdc-golden || $s == http-kerberos ]]; then
        DC_SCENARIOS+=("$s")
    elif [[ $s == http-* ]]; then HTTP_SCENARIOS+=("$s")
    elif [[ $s == ldap-plain ]]; then WANT_SLAPD=1
    elif [[ $s == tunnels ]]; then WANT_TUNNELS=1
    elif [[ -n ${STANDALONE_OPTIONS[$s]:-} ]]; then OWN_SERVER+=("$s")
    else STANDALONE+=("$s"); fi
done
if [[ ${#STANDALONE[@]} -gt 0 ]]; then
    setup_standalone
    run_standalone "${STANDALONE[@]}"
    stop_server
fi
for s in "${OWN_SERVER[@]}"; do
    setup_standalone "${STANDALONE_OPTIONS[$s]}"
    run_standalone "$s"
    stop_server
done
if [[ ${#DC_SCENARIOS[@]} -gt 0 ]]; then
    run_dc "${DC_SCENARIOS[@]}" || { log "AD DC scenarios failed"; exit 1; }
    stop_server
fi
if [[ ${#HTTP_SCENARIOS[@]} -gt 0 ]]; then
    run_http "${HTTP_SCENARIOS[@]}" || { log "HTTP scenarios failed"; exit 1; }
    stop_server
fi
if [[ $WANT_SLAPD == 1 ]]; then
    run_slapd || { log "ldap-plain scenario failed"; exit 1; }
    stop_server
fi
if [[ $WANT_TUNNELS == 1 ]]; then  # after the originals it copies (no server, no capture)
    "$PYTHON" "$HERE/encapsulate.py" "$OUT" || { log "tunnels scenario failed"; exit 1; }
fi
log "done: $OUT"
