//! Buffer creation and blocking readback shared by the engine and single-kernel runs.

use super::context::GpuContext;
use crate::error::GpuError;
use bytemuck::Pod;
use wgpu::util::DeviceExt;

/// Storage usage for engine buffers: shader access plus copies in and out.
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

/// A buffer holding `data` (at least 16 bytes, so an empty input still makes a valid binding).
pub fn with_data<T: Pod>(
    ctx: &GpuContext,
    label: &str,
    data: &[T],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    if bytes.len() >= 16 && bytes.len().is_multiple_of(4) {
        return ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage,
            });
    }
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().max(16).next_multiple_of(4), 0);
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &padded,
            usage,
        })
}

/// An uninitialised (zeroed) buffer of at least `bytes` bytes (rounded up to 16).
pub fn zeroed(
    ctx: &GpuContext,
    label: &str,
    bytes: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(16),
        usage,
        mapped_at_creation: false,
    })
}

/// u8 values packed four to a u32, little-endian, as the shaders' `byte_at` reads them.
pub fn pack_u8(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

/// Waits for a mapping requested with `map_async` on `slice` and returns its bytes as `T`s.
/// With `until`, waits only for that submission (later ones keep the queue busy).
pub fn wait_mapped<T: Pod>(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    bytes: u64,
    done: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    until: Option<wgpu::SubmissionIndex>,
) -> Result<Vec<T>, GpuError> {
    loop {
        match done.try_recv() {
            Ok(r) => {
                r.map_err(|e| GpuError::Device(format!("mapping a readback buffer: {e}")))?;
                break;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                ctx.device
                    .poll(wgpu::PollType::Wait {
                        submission_index: until.clone(),
                        timeout: None,
                    })
                    .map_err(|e| GpuError::Device(format!("waiting for the device: {e}")))?;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(GpuError::Device("readback callback dropped".into()));
            }
        }
    }
    let out = {
        let view = buffer
            .slice(..bytes)
            .get_mapped_range()
            .map_err(|e| GpuError::Device(format!("reading a mapped buffer: {e}")))?;
        bytemuck::pod_collect_to_vec(&view[..])
    };
    buffer.unmap();
    Ok(out)
}

/// Starts mapping the first `bytes` of a MAP_READ buffer; the receiver gets the result.
pub fn start_map(
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    buffer.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
        // The receiver may be gone if the caller gave up; nothing to do then.
        let _ = tx.send(r);
    });
    rx
}

/// Copies `count` values of `T` from `src` at byte `offset` back to the host (blocking).
pub fn read<T: Pod>(
    ctx: &GpuContext,
    src: &wgpu::Buffer,
    offset: u64,
    count: usize,
) -> Result<Vec<T>, GpuError> {
    let bytes = (count * std::mem::size_of::<T>()) as u64;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let staging = zeroed(
        ctx,
        "readback",
        bytes,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
    );
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    encoder.copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    let rx = start_map(&staging, bytes);
    let out = wait_mapped(ctx, &staging, bytes, rx, None)?;
    ctx.take_error()?;
    Ok(out)
}
