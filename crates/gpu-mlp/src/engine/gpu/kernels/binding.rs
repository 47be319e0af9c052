//! Group 0 of every kernel on the device: its bind-group layout (from the kernel's storage
//! slots) and the bind group of one dispatch (its parameters uploaded, the step table bound at a
//! dynamic offset, its storage buffers in their order).

use super::contract::{storage_slots, Access, Kernel, StorageBindings};
use super::step::STEP_RECORD_BYTES;
use crate::engine::gpu::buffers;
use crate::engine::gpu::context::GpuContext;

/// A kernel's bind-group layout and its pipeline layout.
pub struct Layout {
    pub bind_group: wgpu::BindGroupLayout,
    pub pipeline: wgpu::PipelineLayout,
}

impl Layout {
    /// The layout of kernel `K`: its params, the step record, its storage slots.
    pub fn of<K: Kernel>(device: &wgpu::Device) -> Self {
        let uniform = |binding, dynamic, size: u64| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: dynamic,
                min_binding_size: std::num::NonZeroU64::new(size),
            },
            count: None,
        };
        let mut entries = vec![uniform(0, false, 0), uniform(1, true, STEP_RECORD_BYTES)];
        for (i, &(_, access)) in storage_slots::<K>().iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: 2 + i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let bind_group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(K::NAME),
            entries: &entries,
        });
        let pipeline = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(K::NAME),
            bind_group_layouts: &[Some(&bind_group)],
            immediate_size: 0,
        });
        Self {
            bind_group,
            pipeline,
        }
    }

    /// The bind group of `kernel`'s parameters (uploaded here; the group keeps the buffer
    /// alive), the step table `steps` (one record bound, at the dispatch's dynamic offset) and
    /// `bindings`.
    pub fn bind<K: Kernel>(
        &self,
        ctx: &GpuContext,
        label: &str,
        kernel: &K,
        bindings: &K::Bindings<'_>,
        steps: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let params = buffers::with_data(
            ctx,
            label,
            std::slice::from_ref(&kernel.params()),
            wgpu::BufferUsages::UNIFORM,
        );
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: steps,
                    offset: 0,
                    size: std::num::NonZeroU64::new(STEP_RECORD_BYTES),
                }),
            },
        ];
        for (i, buffer) in bindings.buffers().into_iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 2 + i as u32,
                resource: buffer.as_entire_binding(),
            });
        }
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &self.bind_group,
            entries: &entries,
        })
    }
}
