module ssc.local/devcluster/pause

go 1.24.0
