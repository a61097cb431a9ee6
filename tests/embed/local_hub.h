// A stand-in for the Hugging Face hub in tests (this machine has no internet): a real
// `python3 -m http.server` on 127.0.0.1 over a directory laid out like the hub's URLs,
// ROOT/{repo}/resolve/{revision}/{file}; and RawHttpServer, a one-thread server answering each
// connection with bytes a test chooses (redirects, lying Content-Length). Used by
// model_store_test.cc and cli_test.cc.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sextant::embed::testing {

// A port on 127.0.0.1 that was free a moment ago.
inline int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool Connects(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class LocalHub {
 public:
  explicit LocalHub(std::string root) : root_(std::move(root)) { std::filesystem::create_directories(root_); }
  ~LocalHub() { Stop(); }
  LocalHub(const LocalHub&) = delete;
  LocalHub& operator=(const LocalHub&) = delete;

  // Starts `python3 -m http.server` over root() and waits until it answers (10 s at most).
  bool Start() {
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = FreeLoopbackPort();
      const std::string port = std::to_string(port_);
      const std::string log = root_ + "/../hub.log";
      pid_ = ::fork();
      if (pid_ == 0) {
        FILE* out = std::freopen(log.c_str(), "a", stderr);
        (void)out;
        (void)std::freopen("/dev/null", "w", stdout);
        // Debian's python3 when there is one (a pyenv shim may not run in every environment).
        const char* python = ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
        ::execlp(python, "python3", "-m", "http.server", port.c_str(), "--bind", "127.0.0.1", "--directory",
                 root_.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      for (int i = 0; i < 200; ++i) {
        if (Connects(port_)) return true;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited (port taken meanwhile?): try another
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Copies every file of `dir` (recursively) to root/{repo}/resolve/{revision}/.
  void Publish(const std::string& repo, const std::string& dir, const std::string& revision = "main") const {
    const std::string to = root_ + "/" + repo + "/resolve/" + revision;
    std::filesystem::create_directories(to);
    std::filesystem::copy(dir, to,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  }
  std::string FilePath(const std::string& repo, const std::string& file, const std::string& revision = "main") const {
    return root_ + "/" + repo + "/resolve/" + revision + "/" + file;
  }

  const std::string& root() const { return root_; }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string root_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Answers each connection with respond(request path, request head) and closes it.
class RawHttpServer {
 public:
  using Respond = std::function<std::string(const std::string& path, const std::string& head)>;
  explicit RawHttpServer(Respond respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    Connects(port_);  // wakes accept()
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void Loop() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      if (stop_) {
        ::close(c);
        return;
      }
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      const size_t sp1 = request.find(' ');
      const size_t sp2 = sp1 == std::string::npos ? sp1 : request.find(' ', sp1 + 1);
      const std::string path = sp2 == std::string::npos ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
      ++requests_;
      const std::string response = respond_(path, request);
      size_t sent = 0;
      while (sent < response.size()) {
        const ssize_t n = ::send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::shutdown(c, SHUT_WR);
      while (::recv(c, buf, sizeof buf, 0) > 0) {
      }
      ::close(c);
    }
  }

  Respond respond_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
};

}  // namespace sextant::embed::testing
