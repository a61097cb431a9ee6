// The README's "Quick tour": every `$ command` of its command-line console blocks runs, in
// order, in one shell from a scratch directory, exactly as written, and must print what the
// README shows ("..." stands for anything), as tests/server/server_test.cc does for the
// "Server" section. Not run: `make build` (the program under test stands in as build/sextant)
// and the ANN benchmark block (`bench ann` needs ../shared/data and minutes; its `version`
// line names the CPU's SIMD level).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct TourStep {
  std::string command, expected;
};

// The `$ ` commands (with their `\` continuation lines) and the output lines under each, from
// the ```console blocks of the README section that starts with `heading`.
std::vector<std::vector<TourStep>> ConsoleBlocks(const std::string& readme, const std::string& heading) {
  std::vector<std::vector<TourStep>> blocks;
  const size_t start = readme.find("\n" + heading + "\n");
  if (start == std::string::npos) return blocks;
  const size_t end = readme.find("\n## ", start + 1);
  std::istringstream in(readme.substr(start, end == std::string::npos ? std::string::npos : end - start));
  bool in_block = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block && line == "```console";
      if (in_block) blocks.emplace_back();
      continue;
    }
    if (!in_block) continue;
    auto& steps = blocks.back();
    if (line.rfind("$ ", 0) == 0) {
      steps.push_back({line.substr(2), ""});
      while (!steps.back().command.empty() && steps.back().command.back() == '\\' && std::getline(in, line)) {
        steps.back().command += "\n" + line;
      }
    } else if (!steps.empty()) {
      steps.back().expected += line + "\n";
    }
  }
  return blocks;
}

// `want` with "..." as a wildcard, as a regular expression.
std::string WildcardRegex(const std::string& want) {
  std::string pattern;
  for (size_t p = 0; p < want.size();) {
    if (want.compare(p, 3, "...") == 0) {
      pattern += "[\\s\\S]*";
      p += 3;
    } else {
      const char c = want[p++];
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) pattern += '\\';
      pattern += c;
    }
  }
  return pattern;
}

TEST(ReadmeTourTest, CommandLineQuickTourWorksAsWritten) {
  const std::string readme = ReadFile(std::string(SEXTANT_SOURCE_DIR) + "/README.md");
  std::vector<TourStep> steps;
  for (const auto& block : ConsoleBlocks(readme, "## Quick tour")) {
    bool benchmark = false;
    for (const auto& s : block) benchmark |= s.command.find("bench ann") != std::string::npos;
    if (benchmark) continue;
    for (const auto& s : block) {
      if (s.command != "make build") steps.push_back(s);
    }
  }
  ASSERT_GE(steps.size(), 8u) << "README.md's '## Quick tour' has fewer command-line steps than expected";

  const std::string dir = (fs::temp_directory_path() / ("sextant_readme_tour_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir + "/build");
  fs::create_symlink(SEXTANT_CLI, dir + "/build/sextant");
  std::string script = "echo $$ > " + dir + "/pgid\ncd " + dir + "\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    script += "echo '@@step " + std::to_string(i) + "'\n" + steps[i].command + "\necho \"@@rc $?\"\n";
  }
  script += "echo '@@end'\n";
  std::ofstream(dir + "/script.sh") << script;
  const std::string cmd = "timeout 120 setsid bash " + dir + "/script.sh > " + dir + "/out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  std::string pgid = ReadFile(dir + "/pgid");
  while (!pgid.empty() && std::isspace(static_cast<unsigned char>(pgid.back()))) pgid.pop_back();
  if (!pgid.empty()) ::kill(-std::stoi(pgid), SIGKILL);  // whatever the script left running
  const std::string out = ReadFile(dir + "/out.txt");
  EXPECT_EQ(rc, 0) << out;
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("README step: " + steps[i].command);
    const std::string begin = "@@step " + std::to_string(i) + "\n";
    const size_t b = out.find(begin);
    ASSERT_NE(b, std::string::npos) << out;
    const size_t e = out.find("@@rc ", b);
    ASSERT_NE(e, std::string::npos) << out;
    const std::string got = out.substr(b + begin.size(), e - b - begin.size());
    EXPECT_EQ(out.substr(e, 7), "@@rc 0\n") << got;
    EXPECT_TRUE(std::regex_match(got, std::regex(WildcardRegex(steps[i].expected))))
        << "got:\n" << got << "want:\n" << steps[i].expected;
  }
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
