#!/usr/bin/env python3
"""ELF tools for the aio kernel module (stdlib only).

Used by scripts/build-kmod and scripts/kmod-check on a relocatable x86-64
ELF object (the module before or after linking):

  got-asm OBJ          assembler source for a module-private GOT: one
                       8-byte slot per symbol that a GOTPCREL-family
                       relocation names (empty output when there is none)
  fix-relocs OBJ       rewrite, in place, the relocation types NetBSD's
                       amd64 module loader does not know: PLT32 becomes
                       PC32 (same symbol: a module has no PLT), and
                       GOTPCREL/GOTPCRELX/REX_GOTPCRELX become PC32
                       against that symbol's slot of the private GOT
  relocs OBJ KOBJ_C    relocation types in sections the loader relocates
                       (those applying to PROGBITS sections), checked
                       against the `case R_X86_64_*:` labels of the
                       kernel's kobj_machdep.c; exit 1 on any other type
  modinfo OBJ          decode the modinfo_t that link_set_modules points
                       at: mi_version, mi_class, mi_name, mi_modcmd,
                       mi_required
  exports OBJ          defined GLOBAL/WEAK symbols, one a line
  panic-path OBJ       the undefined symbols reachable from the Rust panic
                       handler through the relocation graph
  fpu OBJ              SSE/AVX/MMX/x87 instructions in the disassembly
  frames OBJ [--limit N] [--top N]
                       stack frame of every function, from its prologue
  recursion OBJ [--allow 'F1; F2'...]
                       cycles in the graph of direct calls and tail calls
                       (objdump -d and the relocations); exit 1 on one
                       whose functions (demangled, without hashes) are
                       not exactly those of an --allow entry

Exit status: 0 ok, 1 check failed, 2 usage or unreadable object.
"""

import bisect
import re
import struct
import subprocess
import sys

# x86-64 psABI relocation numbers.
R_X86_64 = {
    "NONE": 0, "64": 1, "PC32": 2, "GOT32": 3, "PLT32": 4, "COPY": 5,
    "GLOB_DAT": 6, "JUMP_SLOT": 7, "RELATIVE": 8, "GOTPCREL": 9, "32": 10,
    "32S": 11, "16": 12, "PC16": 13, "8": 14, "PC8": 15, "DTPMOD64": 16,
    "DTPOFF64": 17, "TPOFF64": 18, "TLSGD": 19, "TLSLD": 20,
    "DTPOFF32": 21, "GOTTPOFF": 22, "TPOFF32": 23, "PC64": 24,
    "GOTOFF64": 25, "GOTPC32": 26, "GOT64": 27, "GOTPCREL64": 28,
    "GOTPC64": 29, "GOTPLT64": 30, "PLTOFF64": 31, "SIZE32": 32,
    "SIZE64": 33, "GOTPC32_TLSDESC": 34, "TLSDESC_CALL": 35, "TLSDESC": 36,
    "IRELATIVE": 37, "RELATIVE64": 38, "GOTPCRELX": 41, "REX_GOTPCRELX": 42,
}
R_NAME = {v: "R_X86_64_" + k for k, v in R_X86_64.items()}
R_PC32, R_PLT32 = R_X86_64["PC32"], R_X86_64["PLT32"]
GOT_FAMILY = {R_X86_64["GOTPCREL"], R_X86_64["GOTPCRELX"],
              R_X86_64["REX_GOTPCRELX"]}

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = \
    1, 2, 3, 4, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xfff1, 0xfff2, 0xffff
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_OBJECT, STT_FUNC, STT_SECTION = 1, 2, 3

# The private GOT made by got-asm: section and slot symbol names.
GOT_SECTION = ".data.netbsd_aio_got"
GOT_SLOT = "netbsd_aio_got."


class ElfError(Exception):
    pass


class Section:
    def __init__(self, idx, name_off, typ, flags, offset, size, link, info,
                 align, entsize, hdr_off):
        self.idx, self.name_off, self.type, self.flags = idx, name_off, typ, flags
        self.offset, self.size, self.link, self.info = offset, size, link, info
        self.align, self.entsize, self.hdr_off = align, entsize, hdr_off
        self.name = ""


class Symbol:
    def __init__(self, idx, name, info, shndx, value, size):
        self.idx, self.name, self.shndx = idx, name, shndx
        self.bind, self.type = info >> 4, info & 0xf
        self.value, self.size = value, size


class Reloc:
    def __init__(self, sec, n, offset, info, addend, rela):
        self.sec, self.n, self.offset = sec, n, offset  # sec: the reloc section
        self.sym, self.type = info >> 32, info & 0xffffffff
        self.addend, self.rela = addend, rela


class Elf:
    """A little-endian ELF64 relocatable object, read whole into memory."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = bytearray(f.read())
        d = self.data
        if len(d) < 64 or d[:4] != b"\x7fELF":
            raise ElfError("not an ELF file")
        if d[4] != 2 or d[5] != 1:
            raise ElfError("not a little-endian ELF64 file")
        (self.e_type, self.e_machine, _, _, _, shoff, _, _, _, _, shentsize,
         shnum, shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
        if shoff == 0:
            raise ElfError("no section headers")
        if shnum == 0 or shstrndx == SHN_XINDEX:
            first = struct.unpack_from("<IIQQQQIIQQ", d, shoff)
            shnum = shnum or first[5]
            if shstrndx == SHN_XINDEX:
                shstrndx = first[6]
        self.sections = []
        for i in range(shnum):
            off = shoff + i * shentsize
            (name, typ, flags, _, offset, size, link, info, align,
             entsize) = struct.unpack_from("<IIQQQQIIQQ", d, off)
            self.sections.append(Section(i, name, typ, flags, offset, size,
                                         link, info, align, entsize, off))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s.name = self.cstr(strtab.offset + s.name_off)
        self.symbols = []
        self.symtab = None
        for s in self.sections:
            if s.type == SHT_SYMTAB:
                self.symtab = s
                names = self.sections[s.link]
                for i in range(s.size // 24):
                    name, info, _, shndx, value, size = struct.unpack_from(
                        "<IBBHQQ", d, s.offset + i * 24)
                    if shndx == SHN_XINDEX:
                        raise ElfError("extended section indices are not "
                                       "supported")
                    self.symbols.append(Symbol(
                        i, self.cstr(names.offset + name), info, shndx,
                        value, size))
                break

    def cstr(self, off):
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode("utf-8", "replace")

    def section_named(self, name):
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def relocs(self, sec):
        """The entries of a SHT_RELA or SHT_REL section."""
        rela = sec.type == SHT_RELA
        size = 24 if rela else 16
        out = []
        for n in range(sec.size // size):
            off = sec.offset + n * size
            if rela:
                r_off, r_info, addend = struct.unpack_from("<QQq", self.data, off)
            else:
                r_off, r_info = struct.unpack_from("<QQ", self.data, off)
                addend = None
            out.append(Reloc(sec, n, r_off, r_info, addend, rela))
        return out

    def reloc_sections(self):
        return [s for s in self.sections if s.type in (SHT_RELA, SHT_REL)]

    def relocs_for(self, target):
        """All relocations applying to section `target` (an index)."""
        out = []
        for s in self.reloc_sections():
            if s.info == target:
                out.extend(self.relocs(s))
        return out

    def set_reloc(self, r, sym, typ):
        size = 24 if r.rela else 16
        off = r.sec.offset + r.n * size + 8
        struct.pack_into("<Q", self.data, off, (sym << 32) | typ)

    def write(self):
        with open(self.path, "wb") as f:
            f.write(self.data)

    def target_of(self, r):
        """(section index, offset) that a relocation's S + A designates,
        for a symbol defined in this object; None when undefined."""
        s = self.symbols[r.sym]
        if s.shndx in (SHN_UNDEF, SHN_ABS, SHN_COMMON) or s.shndx >= 0xff00:
            return None
        return s.shndx, s.value + (r.addend or 0)

    def sym_label(self, r):
        s = self.symbols[r.sym]
        if s.type == STT_SECTION:
            return self.sections[s.shndx].name
        return s.name


def load(path):
    try:
        return Elf(path)
    except (OSError, ElfError, struct.error, ValueError) as e:
        print(f"kmodelf: {path}: {e}", file=sys.stderr)
        sys.exit(2)


def got_targets(elf):
    """Indices of the symbols named by GOTPCREL-family relocations."""
    out = []
    for s in elf.reloc_sections():
        for r in elf.relocs(s):
            if r.type in GOT_FAMILY and r.sym not in out:
                out.append(r.sym)
    return out


def cmd_got_asm(elf):
    targets = got_targets(elf)
    if not targets:
        return 0
    print("# The aio module's private GOT (written by kmod/kmodelf.py).")
    print(f'\t.section {GOT_SECTION},"aw",@progbits')
    print("\t.p2align 3")
    got_tail = '\t.section .note.GNU-stack,"",@progbits'
    for n, idx in enumerate(targets):
        sym = elf.symbols[idx]
        if sym.bind == STB_LOCAL or not sym.name:
            print(f"kmodelf: GOT relocation against local symbol "
                  f"{elf.sections[sym.shndx].name if sym.type == STT_SECTION else sym.name!r}",
                  file=sys.stderr)
            return 1
        name = sym.name.replace("\\", "\\\\").replace('"', '\\"')
        print(f"{GOT_SLOT}{n}:")
        print(f'\t.quad "{name}"')
    print(got_tail)
    return 0


def cmd_fix_relocs(elf):
    # Slot symbol for each GOT target: read back from the GOT section's own
    # relocations (slot at offset o holds the address of the symbol that
    # the R_X86_64_64 at o names).
    slots = {}
    got = elf.section_named(GOT_SECTION)
    if got is not None:
        at = {}
        for s in elf.symbols:
            if s.shndx == got.idx and s.name.startswith(GOT_SLOT):
                at[s.value] = s.idx
        for r in elf.relocs_for(got.idx):
            if r.type != R_X86_64["64"] or r.offset not in at:
                print(f"kmodelf: unexpected relocation in {GOT_SECTION}",
                      file=sys.stderr)
                return 1
            slots[elf.symbols[r.sym].name] = at[r.offset]
    plt = gotn = 0
    for s in elf.reloc_sections():
        for r in elf.relocs(s):
            if r.type == R_PLT32:
                elf.set_reloc(r, r.sym, R_PC32)
                plt += 1
            elif r.type in GOT_FAMILY:
                name = elf.symbols[r.sym].name
                if name not in slots:
                    print(f"kmodelf: no GOT slot for {name!r}", file=sys.stderr)
                    return 1
                # GOTPCREL is G + GOT + A - P: the slot's address + A - P,
                # which is PC32 against the slot.
                elf.set_reloc(r, slots[name], R_PC32)
                gotn += 1
    elf.write()
    print(f"PLT32->PC32: {plt}, GOTPCREL->PC32 via {len(slots)} GOT slots: {gotn}")
    return 0


def kobj_types(path):
    """The relocation types handled by a kobj_machdep.c (its case labels)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    names = set(re.findall(r"case\s+(R_X86_64_\w+)\s*:", text))
    out = set()
    for n in names:
        k = n[len("R_X86_64_"):]
        if k in R_X86_64:
            out.add(R_X86_64[k])
    return out


def cmd_relocs(elf, kobj_c):
    try:
        ok = kobj_types(kobj_c)
    except OSError as e:
        print(f"kmodelf: {e}", file=sys.stderr)
        return 2
    if not ok:
        print(f"kmodelf: no R_X86_64 case labels in {kobj_c}", file=sys.stderr)
        return 2
    counts, bad = {}, {}
    for s in elf.reloc_sections():
        target = elf.sections[s.info] if s.info < len(elf.sections) else None
        # kobj relocates only PROGBITS sections (it loads every one of
        # them, allocated or not).
        if target is None or target.type != SHT_PROGBITS:
            continue
        for r in elf.relocs(s):
            name = R_NAME.get(r.type, f"type {r.type}")
            counts[name] = counts.get(name, 0) + 1
            if r.type not in ok:
                bad.setdefault(name, []).append(
                    f"{target.name}+{r.offset:#x} -> {elf.sym_label(r)}")
    print("types: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("kernel handles: " + ", ".join(sorted(R_NAME[t] for t in ok)))
    for name, where in sorted(bad.items()):
        print(f"unsupported {name} x{len(where)}, e.g. {where[0]}")
    return 1 if bad else 0


def read_ptr(elf, sec_idx, off):
    """The pointer at (section, offset): (target section, offset), None for
    NULL, or a string naming an undefined symbol."""
    for r in elf.relocs_for(sec_idx):
        if r.offset == off:
            if r.type != R_X86_64["64"]:
                raise ElfError(f"pointer with relocation {R_NAME.get(r.type)}")
            t = elf.target_of(r)
            return t if t is not None else elf.symbols[r.sym].name
    sec = elf.sections[sec_idx]
    raw = struct.unpack_from("<Q", elf.data, sec.offset + off)[0]
    if raw != 0:
        raise ElfError(f"unrelocated non-NULL pointer in {sec.name}")
    return None


def symbol_at(elf, sec_idx, off):
    for s in elf.symbols:
        if s.shndx == sec_idx and s.value == off and s.name and \
                s.type != STT_SECTION:
            return s.name
    return f"{elf.sections[sec_idx].name}+{off:#x}"


def cmd_modinfo(elf):
    ls = elf.section_named("link_set_modules")
    if ls is None:
        print("no link_set_modules section")
        return 1
    if ls.size != 8:
        print(f"link_set_modules holds {ls.size // 8} entries, want 1")
        return 1
    try:
        mi = read_ptr(elf, ls.idx, 0)
        if not isinstance(mi, tuple):
            print(f"link_set_modules entry points at {mi!r}, not at data here")
            return 1
        sec, off = mi
        s = elf.sections[sec]
        if s.type != SHT_PROGBITS or off + 32 > s.size:
            print(f"modinfo at {s.name}+{off:#x} is outside its section")
            return 1
        version, klass = struct.unpack_from("<II", elf.data, s.offset + off)
        modcmd = read_ptr(elf, sec, off + 8)
        name = read_ptr(elf, sec, off + 16)
        req = read_ptr(elf, sec, off + 24)
    except ElfError as e:
        print(f"modinfo: {e}")
        return 1

    def string(p):
        if p is None:
            return "NULL"
        if not isinstance(p, tuple):
            return f"<undefined {p}>"
        return '"' + elf.cstr(elf.sections[p[0]].offset + p[1]) + '"'

    if isinstance(modcmd, tuple):
        fn = symbol_at(elf, *modcmd)
        if not elf.sections[modcmd[0]].flags & SHF_EXECINSTR:
            fn += " (not code)"
    else:
        fn = str(modcmd)
    print(f"mi_version={version} mi_class={klass} mi_name={string(name)} "
          f"mi_modcmd={fn} mi_required={string(req)}")
    return 0


def cmd_exports(elf):
    for s in elf.symbols:
        if s.bind in (STB_GLOBAL, STB_WEAK) and s.shndx != SHN_UNDEF and s.name:
            print(s.name)
    return 0


def cmd_panic_path(elf):
    """Walks the reference graph from the Rust panic handler and prints the
    undefined symbols reached.  A node is a function or data object (its
    symbol's [value, value + size) in its section; the whole section when
    no sized symbol covers the place); its edges are the relocations inside
    that range."""
    handlers = [s for s in elf.symbols
                if s.type == STT_FUNC and 0 < s.shndx < 0xff00
                and "rust_begin_unwind" in s.name]
    if not handlers:
        print("no panic handler (rust_begin_unwind) defined")
        return 1
    sized = {}
    for s in elf.symbols:
        if 0 < s.shndx < 0xff00 and s.size > 0 and s.type in (STT_OBJECT, STT_FUNC):
            sized.setdefault(s.shndx, []).append((s.value, s.value + s.size))
    relocs = {}

    def node(sec, off):
        for lo, hi in sized.get(sec, ()):
            if lo <= off < hi:
                return sec, lo, hi
        return sec, 0, elf.sections[sec].size

    seen, undef = set(), set()
    todo = [node(h.shndx, h.value) for h in handlers]
    panic_fn = [node(s.shndx, s.value) for s in elf.symbols
                if s.name == "aiok_panic" and 0 < s.shndx < 0xff00]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        sec, lo, hi = n
        if sec not in relocs:
            relocs[sec] = elf.relocs_for(sec)
        for r in relocs[sec]:
            if not lo <= r.offset < hi:
                continue
            sym = elf.symbols[r.sym]
            if sym.shndx == SHN_UNDEF:
                undef.add(sym.name)
            elif sym.shndx < 0xff00:
                off = sym.value
                if sym.type == STT_SECTION:
                    off += r.addend or 0
                    # A PC-relative reference's addend is biased by the
                    # distance from the field to the next instruction.
                    if r.type in (R_PC32, R_PLT32):
                        off += 4
                todo.append(node(sym.shndx, off))
    via = any(p in seen for p in panic_fn)
    print("reaches aiok_panic: " + ("yes" if via else "no"))
    print("undefined symbols reached: " + (" ".join(sorted(undef)) or "none"))
    return 0 if via and undef == {"panic"} else 1


# --- disassembly checks ---------------------------------------------------

PREFIXES = {"rep", "repz", "repnz", "repe", "repne", "lock", "data16",
            "data32", "addr32", "addr16", "cs", "ds", "es", "ss", "fs", "gs",
            "notrack", "bnd", "xacquire", "xrelease"}
FPU_REG = re.compile(r"%(?:[xyz]mm\d+|mm[0-7]\b|st\b|st\(\d\)|k[0-7]\b)")
FPU_OP = re.compile(
    r"^(?:f[a-z0-9]+|emms|ldmxcsr|stmxcsr|vldmxcsr|vstmxcsr|vzeroupper|"
    r"vzeroall|xsave\w*|xrstor\w*)$")


def disassemble(path):
    """Yields (function, mnemonic, operands) for each instruction."""
    try:
        p = subprocess.run(["objdump", "-d", "-w", "--no-show-raw-insn", path],
                           check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"kmodelf: objdump failed: {e}", file=sys.stderr)
        sys.exit(2)
    fn = None
    label = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    insn = re.compile(r"^\s+[0-9a-f]+:\t(.*)$")
    for line in p.stdout.splitlines():
        m = label.match(line)
        if m:
            fn = m.group(1)
            continue
        m = insn.match(line)
        if not m or fn is None:
            continue
        text = m.group(1).split("#", 1)[0].strip()
        words = text.split()
        while words and (words[0] in PREFIXES or words[0].startswith("rex")):
            words.pop(0)
        if not words:
            continue
        yield fn, words[0], " ".join(words[1:])


def cmd_fpu(path):
    hits = []
    for fn, mnem, ops in disassemble(path):
        if FPU_OP.match(mnem) or FPU_REG.search(ops):
            hits.append(f"{fn}: {mnem} {ops}".rstrip())
    for h in hits[:10]:
        print(h)
    if len(hits) > 10:
        print(f"... and {len(hits) - 10} more")
    print(f"{len(hits)} SSE/AVX/MMX/x87 instructions")
    return 1 if hits else 0


IMM = r"\$(-?0x[0-9a-f]+|-?\d+)"
SUB_RSP = re.compile(r"^" + IMM + r",%rsp$")
LEA_RSP = re.compile(r"^-(0x[0-9a-f]+|\d+)\(%rsp\),%rsp$")
SUB_R11 = re.compile(r"^" + IMM + r",%r11$")


def imm(s):
    v = int(s, 0)
    return v - (1 << 64) if v >= 1 << 63 else v


def frames(path):
    """Bytes each function puts on the stack below its return address, by
    scanning its prologue: pushes and stack-pointer decrements up to the
    first call, jump or return (a stack-probe loop's size is taken from
    its `sub $N,%r11`)."""
    out, state = {}, {}
    for fn, mnem, ops in disassemble(path):
        st = state.setdefault(fn, {"depth": 0, "open": True})
        if not st["open"]:
            continue
        if mnem.startswith("push"):
            st["depth"] += 8
        elif mnem in ("sub", "subq") and SUB_RSP.match(ops):
            st["depth"] += imm(SUB_RSP.match(ops).group(1))
        elif mnem in ("add", "addq") and SUB_RSP.match(ops) and \
                imm(SUB_RSP.match(ops).group(1)) < 0:
            st["depth"] -= imm(SUB_RSP.match(ops).group(1))
        elif mnem in ("lea", "leaq") and LEA_RSP.match(ops):
            st["depth"] += int(LEA_RSP.match(ops).group(1), 0)
        elif mnem in ("sub", "subq") and SUB_R11.match(ops):
            st["depth"] += imm(SUB_R11.match(ops).group(1))
        elif mnem.startswith(("call", "j", "ret", "ud2", "int3", "hlt")):
            st["open"] = False
        out[fn] = st["depth"]
    return out


def cmd_frames(path, limit, top):
    fr = frames(path)
    ranked = sorted(fr.items(), key=lambda kv: -kv[1])
    for fn, n in ranked[:top]:
        print(f"{n:6d}  {fn}")
    over = [kv for kv in ranked if kv[1] >= limit]
    print(f"{len(fr)} functions, largest frame {ranked[0][1] if ranked else 0} "
          f"bytes, {len(over)} at or above {limit}")
    return 1 if over else 0


# --- call graph -----------------------------------------------------------

INSN = re.compile(r"^\s+([0-9a-f]+):\t(.*)$")
SECTION_HDR = re.compile(r"^Disassembly of section (.*):$")


def instructions(elf):
    """{section index: [(offset, mnemonic, operands)]} for the executable
    sections, from objdump -d (sections matched to indices by name, in
    order)."""
    try:
        p = subprocess.run(["objdump", "-d", "-w", "--no-show-raw-insn",
                            elf.path], check=True, capture_output=True,
                           text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"kmodelf: objdump failed: {e}", file=sys.stderr)
        sys.exit(2)
    by_name = {}
    for s in elf.sections:
        if s.flags & SHF_EXECINSTR and s.type == SHT_PROGBITS:
            by_name.setdefault(s.name, []).append(s.idx)
    out, sec = {}, None
    for line in p.stdout.splitlines():
        m = SECTION_HDR.match(line)
        if m:
            left = by_name.get(m.group(1))
            sec = left.pop(0) if left else None
            if sec is not None:
                out[sec] = []
            continue
        m = INSN.match(line)
        if not m or sec is None:
            continue
        words = m.group(2).split("#", 1)[0].split()
        while words and (words[0] in PREFIXES or words[0].startswith("rex")):
            words.pop(0)
        if words:
            out[sec].append((int(m.group(1), 16), words[0],
                             " ".join(words[1:])))
    return out


class CallGraph:
    """The direct calls between the functions of an object.  A node is a
    function: (section index, start), from the STT_FUNC symbols (the whole
    section when no function symbol covers a place).  An edge is a call or
    a jump out of the function (a tail call) whose target is known without
    running the code: a relocation against a symbol or section (PC32,
    PLT32), a resolved displacement inside the section, or an indirect
    call through a slot of the module's private GOT (whose R_X86_64_64
    names the callee).  Calls through registers or other memory are
    indirect and only counted."""

    def __init__(self, elf):
        self.elf = elf
        self.funcs = {}         # section -> sorted [(start, end, name)]
        for s in elf.symbols:
            if s.type == STT_FUNC and 0 < s.shndx < 0xff00:
                self.funcs.setdefault(s.shndx, []).append(
                    (s.value, s.value + s.size, s.name))
        for v in self.funcs.values():
            v.sort(key=lambda f: (f[0], -f[1]))
        self.got = {}           # GOT offset -> Reloc
        got = elf.section_named(GOT_SECTION)
        self.got_idx = got.idx if got is not None else None
        if got is not None:
            for r in elf.relocs_for(got.idx):
                if r.type == R_X86_64["64"]:
                    self.got[r.offset] = r
        self.names = {}         # node -> symbol name
        self.edges = {}         # node -> {node: "call" | "tail call"}
        self.external = set()   # undefined symbols called
        self.indirect = 0
        self.via_got = 0
        self.build()

    def node(self, sec, off):
        best = None
        for lo, hi, name in self.funcs.get(sec, ()):
            if lo <= off < max(hi, lo + 1) and (best is None or lo >= best[0]):
                best = (lo, name)
        if best is None:
            n = (sec, 0)
            self.names.setdefault(n, self.elf.sections[sec].name)
            return n
        n = (sec, best[0])
        self.names.setdefault(n, best[1])
        return n

    def place(self, sym, addend):
        """(section, offset) or the undefined symbol's name for S + A."""
        s = self.elf.symbols[sym]
        if s.shndx == SHN_UNDEF:
            return s.name
        if s.shndx in (SHN_ABS, SHN_COMMON) or s.shndx >= 0xff00:
            return None
        return s.shndx, (0 if s.type == STT_SECTION else s.value) + addend

    def target(self, r, next_ip, indirect):
        """Where a call or jump whose operand a relocation fills goes."""
        if r.type in GOT_FAMILY:
            # Not yet rewritten by fix-relocs: the GOT entry holds S.
            return self.place(r.sym, 0) if indirect else None
        if r.type not in (R_PC32, R_PLT32):
            return None
        where = self.place(r.sym, (r.addend or 0) + next_ip - r.offset)
        if not indirect:
            return where
        # call *slot(%rip): a slot of the private GOT holds its callee.
        if isinstance(where, tuple) and where[0] == self.got_idx and \
                where[1] in self.got:
            g = self.got[where[1]]
            self.via_got += 1
            return self.place(g.sym, g.addend or 0)
        return None

    def build(self):
        elf = self.elf
        for sec, insns in instructions(elf).items():
            rel = sorted((r.offset, r) for r in elf.relocs_for(sec))
            offs = [o for o, _ in rel]
            size = elf.sections[sec].size
            for i, (addr, mnem, ops) in enumerate(insns):
                is_call = mnem.startswith("call")
                if not (is_call or mnem.startswith("j")):
                    continue
                me = self.node(sec, addr)
                self.edges.setdefault(me, {})
                next_ip = insns[i + 1][0] if i + 1 < len(insns) else size
                k = bisect.bisect_right(offs, addr)
                r = rel[k][1] if k < len(rel) and offs[k] < next_ip else None
                indirect = ops.startswith("*")
                if r is not None:
                    where = self.target(r, next_ip, indirect)
                elif not indirect and re.match(r"^[0-9a-f]+\b", ops):
                    where = (sec, int(ops.split()[0], 16))
                else:
                    where = None
                if where is None:
                    if indirect and is_call:
                        self.indirect += 1
                    continue
                if isinstance(where, str):
                    self.external.add(where)
                    continue
                to = self.node(*where)
                if to == me and not is_call:
                    continue        # a jump inside the function
                kind = "call" if is_call else "tail call"
                if self.edges[me].get(to) != "call":
                    self.edges[me][to] = kind
                self.edges.setdefault(to, {})

    def sccs(self):
        """Strongly connected components (Tarjan, iterative)."""
        index, low, on, stack, out = {}, {}, set(), [], []
        for root in self.edges:
            if root in index:
                continue
            work = [(root, iter(self.edges[root]))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on.add(root)
            while work:
                v, it = work[-1]
                w = next(it, None)
                if w is not None:
                    if w not in index:
                        index[w] = low[w] = len(index)
                        stack.append(w)
                        on.add(w)
                        work.append((w, iter(self.edges[w])))
                    elif w in on:
                        low[v] = min(low[v], index[w])
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
        return out

    def cycle(self, comp):
        """A shortest cycle through comp's first node, inside comp."""
        members, start = set(comp), min(comp, key=lambda n: self.names[n])
        prev, todo = {}, [start]
        while todo:
            nxt = []
            for v in todo:
                for w in self.edges[v]:
                    if w not in members:
                        continue
                    if w == start:
                        path = [v]
                        while path[-1] != start:
                            path.append(prev[path[-1]])
                        return [start] + path[::-1][1:] + [start] \
                            if len(path) > 1 else [start, start]
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            todo = nxt
        return [start]


def demangler():
    """A function demangling a list of names with c++filt (which reads
    Rust's legacy and v0 manglings); names unchanged without it."""
    def run(names):
        if not names:
            return {}
        try:
            p = subprocess.run(["c++filt"], input="\n".join(names) + "\n",
                               capture_output=True, text=True, check=True)
            out = p.stdout.splitlines()
        except (OSError, subprocess.CalledProcessError):
            out = []
        if len(out) != len(names):
            out = names
        return dict(zip(names, out))
    return run


def short(name):
    """A demangled name without Rust's ::h<hash> suffix and crate
    disambiguators, for printing and for the allowlist."""
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return re.sub(r"\[[0-9a-f]+\]", "", name)


def cmd_recursion(elf, allow):
    """Fails on a cycle of direct calls: a strongly connected component of
    more than one function, or a function calling itself.  `allow` lists
    (set of short demangled names) components that are accepted."""
    g = CallGraph(elf)
    dm = demangler()(sorted(set(g.names.values())))
    label = {n: short(dm.get(g.names[n], g.names[n])) for n in g.names}
    nedges = sum(len(v) for v in g.edges.values())
    tails = sum(1 for v in g.edges.values() for k in v.values()
                if k == "tail call")
    print(f"{len(g.edges)} functions, {nedges} direct call edges "
          f"({tails} tail calls, {g.via_got} calls through the private GOT), "
          f"{len(g.external)} kernel functions called")
    print(f"{g.indirect} indirect calls (function pointers, trait objects) "
          f"are not seen: this proves only the absence of direct recursion")
    bad = allowed = 0
    for comp in g.sccs():
        if len(comp) == 1 and comp[0] not in g.edges[comp[0]]:
            continue
        names = sorted(label[n] for n in comp)
        path = " -> ".join(label[n] for n in g.cycle(comp))
        if set(names) in allow:
            allowed += 1
            print(f"allowed cycle ({len(comp)} functions): {path}")
            continue
        bad += 1
        what = "self-call" if len(comp) == 1 else \
            f"cycle ({len(comp)} functions)"
        print(f"{what}: {path}")
        if len(comp) > 2:
            print("  in the component: " + "; ".join(names))
    print(f"cycles of direct calls: {bad}" +
          (f" ({allowed} allowed)" if allowed else ""))
    return 1 if bad else 0


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    cmd, path = argv[1], argv[2]
    if cmd == "got-asm":
        return cmd_got_asm(load(path))
    if cmd == "fix-relocs":
        return cmd_fix_relocs(load(path))
    if cmd == "relocs":
        if len(argv) != 4:
            print("usage: kmodelf.py relocs OBJ KOBJ_MACHDEP_C", file=sys.stderr)
            return 2
        return cmd_relocs(load(path), argv[3])
    if cmd == "modinfo":
        return cmd_modinfo(load(path))
    if cmd == "exports":
        return cmd_exports(load(path))
    if cmd == "panic-path":
        return cmd_panic_path(load(path))
    if cmd == "fpu":
        load(path)
        return cmd_fpu(path)
    if cmd == "frames":
        limit, top, rest = 1024, 5, argv[3:]
        while rest:
            if rest[0] == "--limit" and len(rest) > 1:
                limit = int(rest[1])
            elif rest[0] == "--top" and len(rest) > 1:
                top = int(rest[1])
            else:
                print(f"kmodelf: bad frames option {rest[0]}", file=sys.stderr)
                return 2
            rest = rest[2:]
        load(path)
        return cmd_frames(path, limit, top)
    if cmd == "recursion":
        allow, rest = [], argv[3:]
        while rest:
            if rest[0] == "--allow" and len(rest) > 1:
                allow.append(set(n.strip() for n in rest[1].split(";")))
            else:
                print(f"kmodelf: bad recursion option {rest[0]}",
                      file=sys.stderr)
                return 2
            rest = rest[2:]
        return cmd_recursion(load(path), allow)
    print(f"kmodelf: unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
