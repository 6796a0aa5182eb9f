// The parameter table: every trainable tensor is registered once with its checkpoint name, shape,
// initialisation and weight-decay flag. Values and gradients each live in one flat buffer in
// registration order, so tensors registered back to back (the experts of a layer) form one
// stacked (E, ...) tensor, and the optimizer and gradient norm run over flat memory.
#pragma once
#include <deque>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/tensor.h"
#include "ops/device.h"

namespace moe {

struct ParamInit {
  enum class Kind { Zeros, Ones, Normal, Uniform };
  Kind kind = Kind::Zeros;
  float std = 0.0f;    // Normal: N(0, std^2)
  float bound = 0.0f;  // Uniform: U(-bound, bound)
  static ParamInit zeros() { return {Kind::Zeros}; }
  static ParamInit ones() { return {Kind::Ones}; }
  static ParamInit normal(float std) { return {Kind::Normal, std}; }
  static ParamInit uniform(float bound) { return {Kind::Uniform, 0.0f, bound}; }
};

struct Param {
  std::string name;
  Shape shape;
  ParamInit init;
  bool decay = false;  // weight decay applies (matrices and embeddings)
  int64_t index = 0;   // registration order
  int64_t offset = 0;  // element offset in the flat buffers
  Tensor value;        // set by ParamTable::allocate
  Tensor grad;
  // What the GEMMs multiply: the value itself, or its bf16 copy under mixed precision
  // (ParamTable::use_bf16_gemm_values).
  Tensor gemm_value;
  // False for state that is saved with the weights but not trained by the optimizer (its
  // gradient stays 0): the router's selection biases, which move by their own rule.
  bool trainable = true;
  // Its index in the whole model, which keys its random init: the same as `index` except on an
  // expert-parallel process, which registers only its slice of each MoE layer's experts.
  int64_t init_index = 0;
  // One of this process's slice of a layer's experts (expert parallel): its gradient is summed
  // only over the processes that hold the same slice (train/expert_parallel.h).
  bool expert_slice = false;
};

class ParamTable {
 public:
  // Values and gradients live on `device` (an error when this build or machine has no backend for
  // it). ArenaMode::Measure: allocate() only counts the bytes (core/arena.h) and binds no tensors.
  explicit ParamTable(Device device = Device::CPU, ArenaMode mode = ArenaMode::Allocate)
      : arena_(ops::device_memory(device), mode) {}
  // Registers a parameter; the returned pointer stays valid for the table's life.
  Param* add(const std::string& name, Shape shape, ParamInit init, bool decay);
  // Passes over `count` parameters of the whole model that another process holds (expert
  // parallel), so that the next one draws its init as it would in one process.
  void skip_init_indices(int64_t count) { next_init_index_ += count; }
  // Allocates the flat value and gradient buffers and binds every Param's tensors.
  void allocate();
  Device device() const { return arena_.memory().device; }
  // Fills values from their init specs, drawing random ones from (seed, parameter index).
  void initialize(uint64_t seed);
  // A (count, ...) view over `count` consecutive same-shaped parameters starting at `first`.
  Tensor stacked_value(const Param* first, int64_t count) const;
  Tensor stacked_grad(const Param* first, int64_t count) const;
  Tensor stacked_gemm_value(const Param* first, int64_t count) const;

  // Mixed precision (train.precision = bf16): keeps a bf16 copy of every value, one flat buffer
  // beside the fp32 values (the master weights), and binds each Param::gemm_value to its part.
  // After allocate(); the copy holds zeros until refresh_bf16_values.
  void use_bf16_gemm_values();
  bool bf16_gemm_values() const { return bf16_; }
  // Rounds the values into their bf16 copy: to nearest even, or stochastically with the random
  // bits of `key` (ops/cast.h). Called whenever the values change (initialisation, loading, every
  // optimizer step).
  void refresh_bf16_values(bool stochastic, uint64_t key);
  const std::deque<Param>& params() const { return params_; }
  std::deque<Param>& params() { return params_; }
  const Param* find(const std::string& name) const;  // nullptr when absent
  // (parameters) each parameter's element offset in `whole`, the table of the same model holding
  // every expert (this table may hold a slice of them: expert parallel), found by name.
  std::vector<int64_t> offsets_in(const ParamTable& whole) const;
  int64_t numel() const { return numel_; }
  Tensor flat_values() const { return values_; }  // (numel)
  Tensor flat_grads() const { return grads_; }    // (numel)
  void zero_grads();
  // The memory of the value and gradient buffers.
  size_t bytes_reserved() const { return arena_.bytes_reserved(); }

 private:
  std::deque<Param> params_;
  int64_t numel_ = 0;
  int64_t next_init_index_ = 0;
  Arena arena_;
  Tensor values_, grads_;
  bool bf16_ = false;
  Tensor bf16_values_;  // (numel) BF16 when bf16_
  Tensor stacked(const Tensor& flat, const Param* first, int64_t count) const;
};

}  // namespace moe
