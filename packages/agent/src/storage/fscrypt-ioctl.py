"""The four fscrypt ioctls the agent needs (linux/fscrypt.h), for a renter's encrypted home.

Node cannot call ioctl(2) without a native add-on, e2fsprogs' e4crypt only makes v1
policies (keys in a process's session keyring), and Debian's fscrypt tool stores a
wrapped copy of the key on the filesystem and wants /etc/fscrypt.conf; these few lines
do policy v2 with nothing on disk but the policy itself. A raw key is read from stdin
(never argv, never a file); key identifiers are hex.

  add MOUNT                 < raw key   prints the key's identifier
  set-policy DIR IDENTIFIER             AES-256-XTS contents, AES-256-CTS names, 32-byte padding
  remove MOUNT IDENTIFIER               prints the kernel's removal status flags
  status MOUNT IDENTIFIER               prints absent, present or incompletely-removed
"""
import fcntl
import os
import struct
import sys

FS_IOC_SET_ENCRYPTION_POLICY = 0x800C6613
FS_IOC_ADD_ENCRYPTION_KEY = 0xC0506617
FS_IOC_REMOVE_ENCRYPTION_KEY = 0xC0406618
FS_IOC_GET_ENCRYPTION_KEY_STATUS = 0xC080661A
KEY_SPEC_TYPE_IDENTIFIER = 2
MODE_AES_256_XTS = 1
MODE_AES_256_CTS = 4
POLICY_FLAGS_PAD_32 = 0x03


def key_spec(identifier=bytes(16)):
    return struct.pack("<II", KEY_SPEC_TYPE_IDENTIFIER, 0) + identifier + bytes(16)


def ioctl(path, request, arg):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, request, arg, True)
    finally:
        os.close(fd)
    return arg


def main(argv):
    cmd = argv[1]
    if cmd == "add":
        raw = sys.stdin.buffer.read()
        arg = bytearray(key_spec() + struct.pack("<II", len(raw), 0) + bytes(32) + raw)
        ioctl(argv[2], FS_IOC_ADD_ENCRYPTION_KEY, arg)
        print(bytes(arg[8:24]).hex())
    elif cmd == "set-policy":
        policy = struct.pack("<BBBB", 2, MODE_AES_256_XTS, MODE_AES_256_CTS, POLICY_FLAGS_PAD_32) + bytes(4)
        ioctl(argv[2], FS_IOC_SET_ENCRYPTION_POLICY, bytearray(policy + bytes.fromhex(argv[3])))
    elif cmd == "remove":
        arg = ioctl(argv[2], FS_IOC_REMOVE_ENCRYPTION_KEY, bytearray(key_spec(bytes.fromhex(argv[3])) + bytes(24)))
        print(struct.unpack("<I", arg[40:44])[0])
    elif cmd == "status":
        arg = ioctl(argv[2], FS_IOC_GET_ENCRYPTION_KEY_STATUS, bytearray(key_spec(bytes.fromhex(argv[3])) + bytes(88)))
        print({1: "absent", 2: "present", 3: "incompletely-removed"}.get(struct.unpack("<I", arg[64:68])[0], "unknown"))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
