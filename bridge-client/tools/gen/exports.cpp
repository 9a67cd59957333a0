// Export tables of ELF32 and PE32 files, read with bounds checks on every
// offset (the file is input, not trusted).
#include "exports.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "reader.hpp"

namespace dllbridge::gen {
namespace {

class Image {
 public:
  Image(std::string path, std::vector<unsigned char> bytes) : path_(std::move(path)), b_(std::move(bytes)) {}
  std::size_t size() const { return b_.size(); }
  template <typename T>
  T get(std::uint64_t off) const {
    if (off > b_.size() || b_.size() - off < sizeof(T))
      fail("truncated (offset " + std::to_string(off) + ")");
    T v;
    std::memcpy(&v, b_.data() + off, sizeof(T));  // x86 files are little-endian, as the host
    return v;
  }
  std::string cstr(std::uint64_t off) const {
    if (off >= b_.size()) fail("a name lies outside the file");
    const auto* begin = reinterpret_cast<const char*>(b_.data() + off);
    const void* nul = std::memchr(begin, 0, b_.size() - off);
    if (!nul) fail("a name is not terminated");
    return std::string(begin, static_cast<const char*>(nul));
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw GenError("--library " + path_ + ": " + what);
  }

 private:
  std::string path_;
  std::vector<unsigned char> b_;
};

Exports read_elf32(const Image& im) {
  if (im.get<std::uint8_t>(4) != 1)
    im.fail("a 64-bit ELF file; --library must be the 32-bit library (ELFCLASS32, i386)");
  if (im.get<std::uint8_t>(5) != 1) im.fail("not a little-endian ELF file");
  if (im.get<std::uint16_t>(18) != 3)
    im.fail("an ELF file for another machine than i386 (e_machine " +
            std::to_string(im.get<std::uint16_t>(18)) + ")");
  const std::uint32_t shoff = im.get<std::uint32_t>(32);
  const std::uint16_t shentsize = im.get<std::uint16_t>(46);
  const std::uint16_t shnum = im.get<std::uint16_t>(48);
  if (shoff == 0 || shnum == 0) im.fail("an ELF file without section headers");
  if (shentsize < 40) im.fail("ELF section headers of a wrong size");
  Exports e;
  e.format = Exports::Format::elf32;
  bool found = false;
  for (std::uint32_t i = 0; i < shnum; ++i) {
    const std::uint64_t sh = shoff + std::uint64_t(i) * shentsize;
    if (im.get<std::uint32_t>(sh + 4) != 11) continue;  // SHT_DYNSYM
    found = true;
    const std::uint32_t off = im.get<std::uint32_t>(sh + 16), size = im.get<std::uint32_t>(sh + 20);
    const std::uint32_t link = im.get<std::uint32_t>(sh + 24), entsize = im.get<std::uint32_t>(sh + 36);
    if (entsize < 16 || link >= shnum) im.fail(".dynsym is malformed");
    const std::uint64_t str_sh = shoff + std::uint64_t(link) * shentsize;
    const std::uint32_t str_off = im.get<std::uint32_t>(str_sh + 16),
                        str_size = im.get<std::uint32_t>(str_sh + 20);
    for (std::uint64_t s = off; s + entsize <= std::uint64_t(off) + size; s += entsize) {
      const std::uint32_t name = im.get<std::uint32_t>(s);
      const std::uint8_t info = im.get<std::uint8_t>(s + 12);
      const std::uint16_t shndx = im.get<std::uint16_t>(s + 14);
      const unsigned bind = info >> 4, type = info & 0xf;
      const bool global = bind == 1 || bind == 2;    // STB_GLOBAL, STB_WEAK
      const bool func = type == 2 || type == 10;     // STT_FUNC, STT_GNU_IFUNC
      if (!global || !func || shndx == 0) continue;  // SHN_UNDEF: imported, not exported
      if (name >= str_size) im.fail("a .dynsym name lies outside .dynstr");
      e.names.insert(im.cstr(std::uint64_t(str_off) + name));
    }
  }
  if (!found) im.fail("an ELF file without .dynsym (not a shared object?)");
  return e;
}

Exports read_pe32(const Image& im) {
  const std::uint32_t pe = im.get<std::uint32_t>(0x3c);
  if (im.get<std::uint32_t>(pe) != 0x00004550) im.fail("an MZ file without a PE header");
  const std::uint16_t machine = im.get<std::uint16_t>(pe + 4);
  const std::uint16_t nsections = im.get<std::uint16_t>(pe + 6);
  const std::uint16_t opt_size = im.get<std::uint16_t>(pe + 20);
  const std::uint64_t opt = pe + 24;
  const std::uint16_t magic = im.get<std::uint16_t>(opt);
  if (magic == 0x20b || machine == 0x8664)
    im.fail("a 64-bit PE file; --library must be the 32-bit DLL (PE32, i386)");
  if (magic != 0x10b || machine != 0x14c) im.fail("not a 32-bit x86 PE file");
  if (im.get<std::uint32_t>(opt + 92) < 1) im.fail("a PE file without an export directory");
  const std::uint32_t exp_rva = im.get<std::uint32_t>(opt + 96);
  const std::uint64_t sections = opt + opt_size;
  auto file_offset = [&](std::uint32_t rva) -> std::uint64_t {
    for (std::uint32_t i = 0; i < nsections; ++i) {
      const std::uint64_t s = sections + std::uint64_t(i) * 40;
      const std::uint32_t vsize = im.get<std::uint32_t>(s + 8), va = im.get<std::uint32_t>(s + 12);
      const std::uint32_t raw_size = im.get<std::uint32_t>(s + 16), raw = im.get<std::uint32_t>(s + 20);
      const std::uint32_t span = vsize > raw_size ? vsize : raw_size;
      if (rva >= va && rva - va < span) return std::uint64_t(raw) + (rva - va);
    }
    im.fail("an export table address (RVA " + std::to_string(rva) + ") lies in no section");
  };
  Exports e;
  e.format = Exports::Format::pe32;
  if (exp_rva == 0) return e;  // a DLL that exports nothing
  const std::uint64_t dir = file_offset(exp_rva);
  const std::uint32_t base = im.get<std::uint32_t>(dir + 16);
  const std::uint32_t nfunctions = im.get<std::uint32_t>(dir + 20), nnames = im.get<std::uint32_t>(dir + 24);
  if (nfunctions > 65536 || nnames > nfunctions) im.fail("an export directory with impossible counts");
  if (nfunctions) {
    const std::uint64_t functions = file_offset(im.get<std::uint32_t>(dir + 28));
    for (std::uint32_t i = 0; i < nfunctions; ++i)
      if (im.get<std::uint32_t>(functions + 4ull * i) != 0) e.ordinals.insert(base + i);
  }
  if (nnames) {
    const std::uint64_t names = file_offset(im.get<std::uint32_t>(dir + 32));
    for (std::uint32_t i = 0; i < nnames; ++i)
      e.names.insert(im.cstr(file_offset(im.get<std::uint32_t>(names + 4ull * i))));
  }
  return e;
}

}  // namespace

Exports read_exports(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw GenError("--library " + path + ": cannot be opened");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Image im(path, std::move(bytes));
  if (im.size() >= 4 && im.get<std::uint32_t>(0) == 0x464c457f) return read_elf32(im);  // "\x7fELF"
  if (im.size() >= 2 && im.get<std::uint16_t>(0) == 0x5a4d) return read_pe32(im);       // "MZ"
  im.fail("neither an ELF shared object nor a PE DLL");
}

bool has_export(const Exports& e, const std::string& symbol) {
  if (!symbol.empty() && symbol[0] == '#') {
    try {
      return e.ordinals.count(static_cast<std::uint32_t>(std::stoul(symbol.substr(1)))) > 0;
    } catch (const std::exception&) {
      return false;
    }
  }
  return e.names.count(symbol) > 0;
}

std::optional<std::string> find_export(const Exports& e, const std::string& name, CallConv conv,
                                       unsigned arg_bytes) {
  const std::string n = std::to_string(arg_bytes);
  std::vector<std::string> forms{name};
  if (conv == CallConv::Stdcall) forms.insert(forms.end(), {name + "@" + n, "_" + name + "@" + n});
  if (conv == CallConv::Fastcall) forms.push_back("@" + name + "@" + n);
  if (conv == CallConv::Cdecl) forms.push_back("_" + name);
  for (const std::string& f : forms)
    if (e.names.count(f)) return f;
  return std::nullopt;
}

}  // namespace dllbridge::gen
