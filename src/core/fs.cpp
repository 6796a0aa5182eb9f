#include "core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/check.h"

namespace moe {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// The directory holding `path` ("." for a bare file name), for the temp file and the dir fsync.
std::string parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Closes the descriptor and removes the temp file unless release() was called.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  // Closes the descriptor, reporting the error close() can return for delayed write failures.
  bool close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0;
  }
  void release() { released_ = true; }

 private:
  std::string path_;
  int fd_;
  bool released_ = false;
};

}  // namespace

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MOE_CHECK(fd >= 0, "cannot open ", path, ": ", errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    std::string why = S_ISDIR(st.st_mode) ? "is a directory" : errno_text();
    ::close(fd);
    fail("cannot read ", path, ": ", why);
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = errno_text();
      ::close(fd);
      fail("cannot read ", path, ": ", why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  std::string tmp = str_cat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  MOE_CHECK(fd >= 0, "cannot write ", path, ": cannot create ", tmp, ": ", errno_text());
  TempFile file(tmp, fd);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    MOE_CHECK(n > 0, "cannot write ", path, ": ", n < 0 ? errno_text() : "short write");
    done += static_cast<size_t>(n);
  }
  MOE_CHECK(::fsync(fd) == 0, "cannot write ", path, ": fsync failed: ", errno_text());
  MOE_CHECK(file.close(), "cannot write ", path, ": close failed: ", errno_text());
  MOE_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "cannot write ", path,
            ": rename failed: ", errno_text());
  file.release();
  // Durability of the rename; some file systems refuse fsync on directories, which is harmless.
  int dir_fd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  MOE_CHECK(!ec, "cannot create directory ", path, ": ", ec.message());
  MOE_CHECK(std::filesystem::is_directory(path, ec), "cannot create directory ", path,
            ": a file with that name exists");
}

}  // namespace moe
