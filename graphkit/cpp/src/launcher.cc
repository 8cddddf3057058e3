// graphkit-run: a front end without TensorFlow that runs graphkit-run-core
// (same directory, same arguments) and passes its stderr through a filter.
//
// libtensorflow logs from static initialisers, before main() and regardless
// of TF_CPP_MIN_LOG_LEVEL ("oneDNN custom operations are on", "Could not find
// cuda drivers", ...); the core program cannot silence what runs before it.
// Dropping TensorFlow's log-format lines here keeps the promise that a bad
// input gives exactly one error line. GRAPHKIT_RUN_VERBOSE=1 shows them all.
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr char kCoreName[] = "graphkit-run-core";

// The severity letter of a TensorFlow/absl log line (`I0000 00:00:1795598564.875201
// 7622 port.cc:153] ...`), 'N' for the fixed notices printed beside them, or 0.
char LogSeverity(const std::string& line) {
  if (line.rfind("WARNING: All log messages before absl::InitializeLog()", 0) == 0) return 'N';
  if (line.rfind("To enable the following instructions:", 0) == 0) return 'N';
  if (line.size() < 6 || std::strchr("IWEF", line[0]) == nullptr) return 0;
  for (int i = 1; i <= 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return 0;
  }
  return line[5] == ' ' && line.find("] ") != std::string::npos ? line[0] : 0;
}

std::string CorePath(const char* argv0) {
  std::vector<char> buffer(4096);
  ssize_t length = readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  std::string self = length > 0 ? std::string(buffer.data(), length) : std::string(argv0);
  size_t slash = self.find_last_of('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/" + kCoreName;
}

}  // namespace

int main(int argc, char** argv) {
  std::string core = CorePath(argv[0]);
  std::vector<char*> args(argv, argv + argc);
  args[0] = core.data();
  args.push_back(nullptr);
  const char* verbose = std::getenv("GRAPHKIT_RUN_VERBOSE");
  if (verbose != nullptr && std::strcmp(verbose, "0") != 0) {
    execv(core.c_str(), args.data());
    std::fprintf(stderr, "graphkit-run: error: cannot start %s: %s\n", core.c_str(), std::strerror(errno));
    return 2;
  }
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    std::fprintf(stderr, "graphkit-run: error: pipe: %s\n", std::strerror(errno));
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "graphkit-run: error: fork: %s\n", std::strerror(errno));
    return 2;
  }
  if (child == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execv(core.c_str(), args.data());
    std::fprintf(stderr, "graphkit-run: error: cannot start %s: %s\n", core.c_str(), std::strerror(errno));
    _exit(2);
  }
  close(pipe_fds[1]);
  std::signal(SIGINT, SIG_IGN);  // the child gets Ctrl-C too; we report how it ended
  FILE* child_stderr = fdopen(pipe_fds[0], "r");
  char* line = nullptr;
  size_t capacity = 0;
  ssize_t length;
  // A TensorFlow message may span lines ("\t [[{{node save/RestoreV2}}]]"); its
  // continuation lines go too, up to the next line of graphkit-run's own.
  bool in_tensorflow_message = false;
  while ((length = getline(&line, &capacity, child_stderr)) > 0) {
    std::string text(line, length);
    char severity = LogSeverity(text);
    if (severity != 0 && severity != 'F') {  // fatal messages are kept: they explain a crash
      in_tensorflow_message = true;
      continue;
    }
    if (in_tensorflow_message && severity == 0 && text.rfind("graphkit-run", 0) != 0) continue;
    in_tensorflow_message = false;
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  }
  std::free(line);
  std::fclose(child_stderr);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "graphkit-run: error: %s was killed by signal %d (%s)\n", kCoreName, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    return 128 + WTERMSIG(status);
  }
  return 2;
}
