// A small command-line flag parser for the `sextant` tool: --name value, --name=value,
// boolean --flag, and positional arguments. Unknown flags are errors.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sextant/status.h"

namespace sextant::cli {

class Args {
 public:
  // `value_flags` take a value, `bool_flags` do not. Errors name the offending flag.
  static Result<Args> Parse(const std::vector<std::string>& argv,
                            const std::set<std::string>& value_flags,
                            const std::set<std::string>& bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const;
  // Errors: missing required flag, or a value that is not a positive integer.
  Result<std::string> Required(const std::string& name) const;
  Result<int64_t> GetPositiveInt(const std::string& name, int64_t def) const;
  // A comma-separated list of positive integers ("10,16,32").
  Result<std::vector<int64_t>> GetIntList(const std::string& name,
                                          const std::vector<int64_t>& def) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace sextant::cli
