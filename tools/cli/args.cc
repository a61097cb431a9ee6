#include "args.h"

#include <cerrno>
#include <cstdlib>

namespace sextant::cli {
namespace {

Result<int64_t> ParsePositive(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v <= 0) {
    return Status::InvalidArgument("--" + flag + " must be a positive integer, got '" + text +
                                   "'");
  }
  return static_cast<int64_t>(v);
}

}  // namespace

Result<Args> Args::Parse(const std::vector<std::string>& argv,
                         const std::set<std::string>& value_flags,
                         const std::set<std::string>& bool_flags) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s.size() < 3 || s.compare(0, 2, "--") != 0) {
      a.positional_.push_back(s);
      continue;
    }
    std::string name = s.substr(2);
    std::string value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (bool_flags.count(name)) {
      if (has_value) return Status::InvalidArgument("--" + name + " takes no value");
      a.values_[name] = "true";
    } else if (value_flags.count(name)) {
      if (!has_value) {
        if (i + 1 >= argv.size()) return Status::InvalidArgument("--" + name + " needs a value");
        value = argv[++i];
      }
      a.values_[name] = value;
    } else {
      return Status::InvalidArgument("unknown flag --" + name);
    }
  }
  return a;
}

std::string Args::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

Result<std::string> Args::Required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return Status::InvalidArgument("missing required flag --" + name);
  }
  return it->second;
}

Result<int64_t> Args::GetPositiveInt(const std::string& name, int64_t def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  return ParsePositive(name, it->second);
}

Result<std::vector<int64_t>> Args::GetIntList(const std::string& name,
                                              const std::vector<int64_t>& def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  std::vector<int64_t> out;
  const std::string& s = it->second;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    SEXTANT_ASSIGN_OR_RETURN(int64_t v, ParsePositive(name, s.substr(start, comma - start)));
    out.push_back(v);
    start = comma + 1;
  }
  return out;
}

}  // namespace sextant::cli
