#!/bin/bash
# Boots the test VM and waits for it to power off, at most TIMEOUT seconds.
#
# Usage: boot.sh KERNEL INITRD SERIAL TIMEOUT [HOSTPORT:GUESTPORT ...]
#   the serial console (kernel messages and everything the guest prints) is
#   written to the file SERIAL as it comes; each HOSTPORT on the host's
#   127.0.0.1 is forwarded to GUESTPORT in the guest.
# Exit status: 0 when the guest powered off, 124 when it was still running
# after TIMEOUT s (qemu is then killed, by its PID), else qemu's status.
#
# The guest's network is qemu's user-mode network with restrict=on: the
# guest reaches neither the host nor anything beyond; only the forwarded
# ports lead in, from the host's 127.0.0.1. Software emulation (TCG), which
# works everywhere: a /dev/kvm can be there and still not work (it hangs on
# the project's machines). KPE_VM_ACCEL=kvm asks for KVM.
# KPE_VM_MEM (MiB, default 512) and KPE_VM_APPEND (the kernel command line,
# default "console=ttyS0 quiet panic=-1", on arm64 console=ttyAMA0) are for
# larger guests, such as tests/pkg's Debian with systemd as PID 1.
# KPE_VM_DISK=FILE gives the guest FILE (raw) as a virtio disk, /dev/vda
# once the image's virtio_blk is loaded (KPE_VM_MODULES in mkimage.sh): a
# virtio-blk PCI device, on x86-64 as on arm64's virt board.
# KPE_VM_KERNEL (see mkimage.sh) picks the machine: a *-arm64 flavor boots
# under qemu-system-aarch64 (virt board, Cortex-A57, its PL011 serial port),
# the others under qemu-system-x86_64.
set -u

[ $# -ge 4 ] || { echo "usage: boot.sh KERNEL INITRD SERIAL TIMEOUT [HOSTPORT:GUESTPORT ...]" >&2; exit 2; }
kernel=$1 initrd=$2 serial=$3 timeout=$4
shift 4

nic="user,model=virtio-net-pci,restrict=on"
for fwd in "$@"; do
        nic="$nic,hostfwd=tcp:127.0.0.1:${fwd%%:*}-:${fwd#*:}"
done
accel=${KPE_VM_ACCEL:-tcg}
disk=()
if [ -n "${KPE_VM_DISK:-}" ]; then
        [ -f "$KPE_VM_DISK" ] || { echo "boot.sh: KPE_VM_DISK=$KPE_VM_DISK is not a file" >&2; exit 2; }
        # The file name goes into qemu's option syntax, where a comma separates.
        case $KPE_VM_DISK in *,*) echo "boot.sh: KPE_VM_DISK=$KPE_VM_DISK has a comma" >&2; exit 2 ;; esac
        disk=(-drive "file=$KPE_VM_DISK,if=none,id=d0,format=raw" -device "virtio-blk-pci,drive=d0")
fi

qemu_pid=""
# Whoever stops us (the test's cleanup, meson's timeout) stops the VM too.
trap '[ -n "$qemu_pid" ] && { kill -KILL "$qemu_pid" && wait "$qemu_pid"; } 2>/dev/null; exit 143' TERM INT HUP

case ${KPE_VM_KERNEL:-debian12-amd64} in
*-arm64)
        machine=(qemu-system-aarch64 -M virt -cpu cortex-a57)
        console=ttyAMA0
        ;;
*)
        machine=(qemu-system-x86_64)
        console=ttyS0
        ;;
esac

"${machine[@]}" -nodefaults -no-user-config -accel "$accel" -m "${KPE_VM_MEM:-512}" -smp 1 \
        -display none -monitor none -serial "file:$serial" -no-reboot \
        -kernel "$kernel" -initrd "$initrd" -append "${KPE_VM_APPEND:-console=$console quiet panic=-1}" \
        -nic "$nic" "${disk[@]}" </dev/null &
qemu_pid=$!

# True while qemu runs (a zombie does not count).
running() {
        [ -r "/proc/$qemu_pid/stat" ] && [ "$(sed 's/^.*) //' "/proc/$qemu_pid/stat" | cut -d' ' -f1)" != Z ]
}

# A bounded wait, in steps of 0.2 s so that the trap above runs soon.
for ((i = 0; i < timeout * 5; i++)); do
        if ! running; then
                wait "$qemu_pid"
                exit $?
        fi
        sleep 0.2
done
echo "boot.sh: the VM ran longer than $timeout s: killing qemu (pid $qemu_pid)" >&2
kill -KILL "$qemu_pid" 2>/dev/null
wait "$qemu_pid" 2>/dev/null
exit 124
