await import('../agent/agent.ts');
