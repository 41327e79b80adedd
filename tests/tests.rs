mod config_files;
