//! One module per subcommand; each turns the plan into phases and returns how it ended.

pub mod doctor;
pub mod down;
pub mod gc;
pub mod init;
pub mod logs;
pub mod report;
pub mod run;
pub mod status;
pub mod up;
pub mod validate;
